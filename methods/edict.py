"""EDICT (Wallace et al. 2023): exact inversion with two coupled latent sequences, as the
reference's ``EDICT_editing`` runs it.

EDICT changes the update rule, so it owns its loop; the coupled-step maths is in
``piebench.sampler.coupled`` (notation there: x, y, p, eps). What it reproduces:

1. Precision: copies of the text encoder, UNet and VAE with every weight rounded through
   ``weights_dtype`` (the reference loads fp16) and then cast to ``dtype`` (float64); the
   timestep embedding, latents, alpha-bars and pixels in float64 too. The shared model is not
   touched. Grid 980, ..., 0 (``steps_offset`` 0), only the last int(strength S) timesteps.
2. Encoding: pixels x / 255 * 2 - 1 in float64; z_0 = a sample of the VAE posterior,
   mean + std * noise, with noise ``randn((1,4,h,w))`` float32 from a CPU generator seeded with
   ``seed`` for each sample (the reference reseeds with 1 before each call), so a sample's noise
   does not depend on its batch. ``seed: null`` uses the run's per-sample generators instead.
3. Inversion: x = y = z_0, coupled inversion with the source prompt, CFG ``guidance`` against the
   empty prompt, up the kept timesteps (0, 20, ..., 780 at the defaults).
4. Editing, from the inversion's (x, y) back down with CFG ``guidance``: ``p2p=false``
   ("edict+direct_forward") denoises with the target prompt; ``p2p=true`` ("edict+p2p") with the
   reference's own attention control (``piebench.p2p.edict_control``) on [uncond, source, target]
   rows, the target's eps guiding. The image is x_0 (the reference shows its first sequence),
   decoded by the float64 VAE and rounded to uint8 (the P2P family truncates).
5. Prompts: cleaned by BERT's basic tokenizer before BPE (``text_cleaning: basic``): the
   reference's EDICT environment (transformers 4.19, no ftfy) tokenizes that way.

6. The strip's reconstruction panel (``image_format=strip``): the reference first runs a
   full-strength inversion and reconstruction (guidance 7) only to show it. EDICT inverts
   exactly, so those two passes return z_0: the panel is z_0 decoded (bit-identical to the
   reference's ``__recon.png`` for both variants of the parity sample), without the two
   50-step passes. They do not feed the edit, and every call reseeds, so the edit's inversion
   draws the same posterior noise with or without them. ``task=reconstruct`` rebuilds the
   source from this method's own inversion (source prompt, ``guidance``).

Not reproduced, on purpose:

- Image loading: the reference crops with PIL's rounded float box and keeps non-RGB modes
  (compositing alpha in [-1, 1] space); the harness's shared preparation differs only for
  non-square or non-RGB files, which PIE-Bench (512x512 RGB) does not contain.
- On CUDA the reference draws its noise from the CUDA generator; noise here always comes from CPU
  generators (the reference's CPU run), so GPU runs match the reference's CPU outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from piebench.methods.base import RECONSTRUCTION_PANEL, Batch, EditMethod, Inversion
from piebench.models.precision import precision_view
from piebench.models.sd import SDModel, to_uint8
from piebench.p2p.edict_control import source_attention_control
from piebench.sampler.coupled import (
    CoupledSchedule,
    EpsFn,
    coupled_denoise_step,
    coupled_invert_step,
)
from piebench.sampler.loop import guided_eps
from piebench.sampler.noise import randn_per_sample

DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}


def _dtype(cfg: Any, key: str, allowed: tuple[str, ...]) -> torch.dtype:
    value = str(cfg[key])
    if value not in allowed:
        raise ValueError(f"method.{key} must be one of {', '.join(allowed)}, got {value!r}")
    return DTYPES[value]


class EDICT(EditMethod):
    """Coupled exact inversion with the source prompt; editing by the coupled denoising."""

    def __init__(self, model: SDModel, cfg: Any) -> None:
        super().__init__(model, cfg)
        dtype = _dtype(cfg, "dtype", ("float32", "float64"))
        rounding = ("float16", "bfloat16", "float32")
        through = None if cfg.weights_dtype is None else _dtype(cfg, "weights_dtype", rounding)
        self.net = precision_view(self.model, dtype, through)
        self.coupled = CoupledSchedule(self.schedule.num_steps, self.schedule.config)
        self.p = float(cfg.mix_weight)
        steps = self.schedule.num_steps
        self.timesteps = self.schedule.timesteps[steps - int(steps * float(cfg.strength)) :]

    # -- encoding and decoding -----------------------------------------------------------------
    def _posterior_noise(self, batch: Batch, shape: tuple[int, ...]) -> torch.Tensor:
        """(B,4,h,w) float32 standard normal noise, one CPU draw per sample."""
        seed = self.cfg.seed
        generators = (
            batch.generators
            if seed is None
            else [torch.Generator().manual_seed(int(seed)) for _ in range(len(batch))]
        )
        return randn_per_sample(generators, shape)

    @torch.no_grad()
    def encode(self, batch: Batch) -> torch.Tensor:
        """z_0: a VAE posterior sample x scaling factor, (B,4,h,w) in ``dtype``."""
        pixels = batch.images.to(self.net.device, self.net.dtype) / 255.0 * 2.0 - 1.0
        posterior = self.net.vae.encode(pixels).latent_dist
        noise = self._posterior_noise(batch, tuple(posterior.mean.shape[1:]))
        sample = posterior.mean + posterior.std * noise.to(posterior.mean.device, self.net.dtype)
        return sample * self.net.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, batch: Batch) -> np.ndarray:
        """(B,H,W,3) uint8 images from the ``dtype`` VAE; [0,1] values are rounded."""
        z = latents.to(self.net.device, self.net.dtype) / self.net.scaling_factor
        return to_uint8(self.net.vae.decode(z).sample, rounding=True)

    # -- epsilon functions -----------------------------------------------------------------------
    def _cfg_eps(self, prompts: list[str], ids: list[str]) -> EpsFn:
        cond = self.net.encode_prompts(prompts, ids)
        null = self.net.encode_prompts([""]).expand_as(cond)
        guidance = float(self.cfg.guidance)
        return lambda z, t: guided_eps(self.net, self.schedule, z, t, cond, null, guidance)

    def _source_controlled_eps(self, batch: Batch) -> EpsFn:
        """eps of the target prompt from one UNet call on [uncond, source, target] rows (run it
        inside ``source_attention_control``)."""
        labels = [*batch.ids, *batch.ids]
        cond = self.net.encode_prompts([*batch.source_prompts, *batch.target_prompts], labels)
        null = self.net.encode_prompts([""]).expand(len(batch), -1, -1)
        context = torch.cat([null, cond])
        guidance = float(self.cfg.guidance)

        def eps(z: torch.Tensor, t: int) -> torch.Tensor:
            rows = torch.cat([z, z, z])
            out = self.schedule.to_eps(self.net.predict(rows, t, context), t, rows)
            eps_uncond, _, eps_target = out.chunk(3)
            return eps_uncond + guidance * (eps_target - eps_uncond)

        return eps

    # -- the method ------------------------------------------------------------------------------
    @torch.no_grad()
    def invert(self, batch: Batch) -> Inversion:
        latents = self.encode(batch)
        eps = self._cfg_eps(batch.source_prompts, batch.ids)
        x = y = latents
        xs = [x]
        steps = len(self.timesteps)
        for j, t in enumerate(reversed(self.timesteps)):
            x, y = coupled_invert_step(self.coupled, self.p, steps - 1 - j, t, x, y, eps)
            xs.append(x)
        return Inversion(latents=latents, trajectory=torch.stack(xs), extras={"y": y})

    @torch.no_grad()
    def _generate(self, inversion: Inversion, eps: EpsFn) -> torch.Tensor:
        x, y = inversion.trajectory[-1], inversion.extras["y"]
        for i, t in enumerate(self.timesteps):
            x, y = coupled_denoise_step(self.coupled, self.p, i, t, x, y, eps)
        return x

    def edit(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        """x_0 of the edit, (B,4,h,w) in ``dtype`` (decode it with ``decode``)."""
        inversion.extras[RECONSTRUCTION_PANEL] = inversion.latents  # z_0: see point 6 above
        if not self.cfg.p2p:
            return self._generate(inversion, self._cfg_eps(batch.target_prompts, batch.ids))
        eps = self._source_controlled_eps(batch)
        with source_attention_control(
            self.net.unet, self.net.tokenizer, batch.source_prompts, batch.target_prompts
        ):
            return self._generate(inversion, eps)

    def reconstruct(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        return self._generate(inversion, self._cfg_eps(batch.source_prompts, batch.ids))
