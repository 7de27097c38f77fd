"""The pieces of Blended Latent Diffusion that are not the denoising loop: masks at latent size,
progressive mask shrinking, candidate seeds and per-sample decoder fine-tuning."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from PIL import Image


def resized_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B,H,W) {0,1} uint8 masks -> (B,1,h,w) uint8 at ``size``, by PIL NEAREST and a 0.5
    threshold as the reference does (PIL samples the centre of each cell: pixel 8i + 4 of a 512
    mask at 64; ``F.interpolate`` would take 8i)."""
    height, width = size
    rows = [
        np.asarray(Image.fromarray(m.numpy()).resize((width, height), Image.NEAREST)) >= 0.5
        for m in masks.cpu()
    ]
    return torch.from_numpy(np.stack(rows)).to(torch.uint8).unsqueeze(1)


def dilated(mask: torch.Tensor, width: int) -> torch.Tensor:
    """(B,1,h,w) {0,1} mask grown by a ``width`` x ``width`` square (odd width)."""
    grown = F.max_pool2d(mask.float(), kernel_size=width, stride=1, padding=width // 2)
    return grown.to(mask.dtype)


def shrinking_masks(mask: torch.Tensor, stages: int, steps: int) -> list[torch.Tensor]:
    """The mask of each of ``steps`` steps. ``stages`` = k > 0: the paper's progressive shrinking:
    k + 1 equal stretches of steps, the first with the mask dilated by a (3 + 2(k - 1))-wide
    square, each next one 2 narrower, the last with the mask itself; k = 0: the mask throughout."""
    sequence = [dilated(mask, 2 * j + 1) if j else mask for j in range(stages, -1, -1)]
    return [sequence[min(s * (stages + 1) // steps, stages)] for s in range(steps)]


def candidate_generators(
    generators: Sequence[torch.Generator], index: int
) -> list[torch.Generator]:
    """Generators of candidate ``index``: candidate 0 uses the samples' own (so one candidate is
    the plain method); candidate j a fresh CPU generator seeded with the sample's seed + j."""
    if index == 0:
        return list(generators)
    return [torch.Generator().manual_seed(g.initial_seed() + index) for g in generators]


def decoder_of(vae: AutoencoderKL) -> torch.nn.Module:
    """A float32 copy of the VAE's latent -> pixel path (post-quant conv + decoder)."""
    parts = [vae.post_quant_conv] if vae.post_quant_conv is not None else []
    twin = copy.deepcopy(torch.nn.Sequential(*parts, vae.decoder))
    return torch.nn.Module.to(twin, torch.float32).train().requires_grad_(True)


def finetuned_decoder(
    vae: AutoencoderKL,
    z: torch.Tensor,
    edited: torch.Tensor,
    source: torch.Tensor,
    mask: torch.Tensor,
    steps: int,
    lr: float,
    background_weight: float,
) -> torch.nn.Module:
    """The paper's background reconstruction: fine-tune a copy of the decoder on one fixed latent
    ``z`` (unscaled, (1,4,h,w)) with Adam on

        MSE(D(z) m, edited m) + background_weight x MSE(D(z) (1 - m), source (1 - m))

    in [-1, 1] (``edited``/``source``: (1,3,H,W) uint8; ``mask``: (1,1,H,W), 1 = edited). The
    shared VAE is not touched."""
    decoder = decoder_of(vae)
    device = next(decoder.parameters()).device
    z = z.to(device, torch.float32)
    edited = edited.to(device).float() / 127.5 - 1
    source = source.to(device).float() / 127.5 - 1
    mask = mask.to(device).float()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        out = decoder(z)
        inside = F.mse_loss(out * mask, edited * mask)
        outside = F.mse_loss(out * (1 - mask), source * (1 - mask))
        (inside + background_weight * outside).backward()
        optimizer.step()
    return decoder.eval().requires_grad_(False)
