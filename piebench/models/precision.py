"""A view of the shared model at another precision, built from copies (the shared one is untouched).

The reference's EDICT loads its weights in fp16 and then casts every part (text encoder, UNet,
VAE) to float64, so each weight equals ``w.half().double()``; its diffusers fork also computes the
UNet's sinusoidal timestep embedding in float64 (current diffusers: float32, ~3e-5 off at
t = 780, far above float64 rounding). ``precision_view`` reproduces both on copies.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import torch
from diffusers.models.embeddings import Timesteps

from piebench.models.sd import SDModel


class Float64Timesteps(torch.nn.Module):
    """diffusers' ``Timesteps`` (sin/cos embedding of t) with all arithmetic in float64.

    Returns (N, num_channels) float64; the UNet casts it to its own dtype afterwards.
    """

    def __init__(self, base: Timesteps) -> None:
        super().__init__()
        self.num_channels = base.num_channels
        self.flip_sin_to_cos = base.flip_sin_to_cos
        self.downscale_freq_shift = base.downscale_freq_shift
        self.scale = base.scale

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        half = self.num_channels // 2
        steps = torch.arange(half, dtype=torch.float64, device=timesteps.device)
        exponent = -math.log(10000) * steps / (half - self.downscale_freq_shift)
        angles = self.scale * (timesteps[:, None].double() * torch.exp(exponent)[None, :])
        sin, cos = torch.sin(angles), torch.cos(angles)
        emb = torch.cat([cos, sin] if self.flip_sin_to_cos else [sin, cos], dim=-1)
        return torch.nn.functional.pad(emb, (0, self.num_channels % 2))


def _rounded_copy(
    module: torch.nn.Module, through: torch.dtype | None, dtype: torch.dtype
) -> torch.nn.Module:
    # torch's own ``to``: diffusers' override (0.42) warns on every dtype cast, even when no module
    # must stay in float32, and these casts are the point here
    twin = copy.deepcopy(module)
    if through is not None:
        twin = torch.nn.Module.to(twin, through)
    return torch.nn.Module.to(twin, dtype)


def precision_view(model: SDModel, dtype: torch.dtype, through: torch.dtype | None) -> SDModel:
    """``model`` with copies of its text encoder, UNet and VAE in ``dtype``.

    ``through``: a dtype every floating weight is rounded through first (the reference: float16),
    or None to cast the loaded weights directly. The UNet copy embeds timesteps in float64 (SD's
    sinusoidal ``Timesteps``; other embeddings are kept as they are). The copy computes in
    ``dtype``: the model's ``autocast`` (a fast-path switch of the loaded model) is not carried
    over, or a float32 EDICT would run its UNet's matrix products in bf16, not in the precision
    ``method.dtype`` names (float64 is never autocast).
    """
    unet = _rounded_copy(model.unet, through, dtype)
    if isinstance(unet.time_proj, Timesteps):
        unet.time_proj = Float64Timesteps(unet.time_proj)
    return dataclasses.replace(
        model,
        unet=unet,
        vae=_rounded_copy(model.vae, through, dtype),
        text_encoder=_rounded_copy(model.text_encoder, through, dtype),
        dtype=dtype,
        autocast=None,
    )
