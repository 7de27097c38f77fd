"""Blended Latent Diffusion (Avrahami et al., SIGGRAPH 2023): edit only inside the PIE-Bench mask.

Defaults reproduce PIE-Bench's reference variant (``run_editing_blended_latent_diffusion.py``):

- its own DDIM scheduler outside a pipeline: steps_offset 0, grid 980..0; the first
  ``int(steps * blending_percentage)`` steps are skipped (50 steps: 38 UNet calls from t = 740);
- the start latent is pure noise (``randn((1,4,h,w))``), the editing prompt the only prompt
  (CFG 7.5 against ""); after every step the background is the source latent (VAE posterior mean
  x scaling factor) noised to that step's t with a fresh draw (``piebench.sampler.blend``);
- everything in the model dtype (the reference: fp16), with the scheduler's alpha-bars in that
  dtype too, as diffusers 0.10's ``add_noise`` left them; uint8 by rounding;
- randomness per sample from the sample's own generator (seed 1234): the start latent, then one
  draw per step, in float32 on the CPU, then cast. That is the reference run on a CPU; on a GPU
  it draws the per-step noise from the CUDA generator, which a CPU draw cannot replay.

Options from the paper, off by default: progressive mask shrinking (``mask_shrink``), a start from
the noised source (``start_from_source``), per-sample decoder fine-tuning for background
reconstruction (``decoder_finetune_steps``) and CLIP ranking of several candidates
(``num_candidates``). BLD is the only method that reads the ground-truth mask.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from piebench.methods.base import Batch, EditMethod, Inversion
from piebench.methods.bld_parts import (
    candidate_generators,
    finetuned_decoder,
    resized_masks,
    shrinking_masks,
)
from piebench.metrics.clip_score import ClipScorer, masked_uint8
from piebench.models.sd import SDModel, to_uint8
from piebench.sampler.blend import BackgroundBlend
from piebench.sampler.loop import denoise
from piebench.sampler.noise import randn_per_sample


class BlendedLatentDiffusion(EditMethod):
    """Mask-guided generation with the editing prompt; no inversion."""

    reconstructs = False

    def __init__(self, model: SDModel, cfg: Any) -> None:
        super().__init__(model, cfg)
        self.schedule = self.schedule.with_alphas_in(model.dtype)
        self.start = int(self.schedule.num_steps * float(cfg.blending_percentage))
        # loaded before any sample runs: missing CLIP weights stop the run at once
        self.clip = (
            ClipScorer.load(str(cfg.clip_model), model.device, config_key="method.clip_model")
            if int(cfg.num_candidates) > 1
            else None
        )

    def invert(self, batch: Batch) -> Inversion:
        """Nothing to invert: the source latents (posterior mean x scaling factor, model dtype)
        are the whole "trajectory"."""
        if batch.masks is None:
            raise ValueError("Blended Latent Diffusion needs the samples' edit masks")
        source = self.model.encode_images(batch.images).to(self.model.dtype)
        return Inversion(latents=source, trajectory=source.unsqueeze(0))

    def edit(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        """Generate ``num_candidates`` results per sample in one batch; keep the best by CLIP."""
        count = int(self.cfg.num_candidates)
        generators = [g for j in range(count) for g in candidate_generators(batch.generators, j)]
        source = inversion.latents.repeat(count, 1, 1, 1)
        masks = self._step_masks(batch.masks, tuple(source.shape[-2:]))
        latents = self._generate(
            source,
            [m.repeat(count, 1, 1, 1) for m in masks],
            batch.target_prompts * count,
            generators,
        )
        if count == 1:
            return latents
        return self._best_candidates(batch, latents.unflatten(0, (count, len(batch))))

    def decode(self, latents: torch.Tensor, batch: Batch) -> np.ndarray:
        """Rounded uint8 images: the shared VAE in the model dtype, or with
        ``decoder_finetune_steps`` a decoder fine-tuned for each sample (the shared one is
        never modified)."""
        steps = int(self.cfg.decoder_finetune_steps)
        if steps == 0:
            return self._decode_shared(latents)
        size = tuple(batch.images.shape[-2:])
        masks = resized_masks(batch.masks, size).float()
        edited = torch.from_numpy(self._decode_shared(latents)).permute(0, 3, 1, 2)
        images = []
        for i in range(len(batch)):
            z = latents[i : i + 1].float() / self.model.scaling_factor
            decoder = finetuned_decoder(
                self.model.vae,
                z,
                edited[i : i + 1],
                batch.images[i : i + 1],
                masks[i : i + 1],
                steps,
                float(self.cfg.decoder_lr),
                float(self.cfg.decoder_background_weight),
            )
            with torch.no_grad():
                images.append(to_uint8(decoder(z), rounding=True))
        return np.concatenate(images)

    # -- generation -------------------------------------------------------------------------------
    def _step_masks(self, masks: torch.Tensor, size: tuple[int, int]) -> list[torch.Tensor]:
        """The latent mask of every step from ``start`` on, (B,1,h,w) in the model dtype:
        the mask itself, or the progressively shrinking sequence."""
        latent = resized_masks(masks, size)
        steps = self.schedule.num_steps - self.start
        sequence = shrinking_masks(latent, int(self.cfg.mask_shrink), steps)
        return [m.to(self.model.device, self.model.dtype) for m in sequence]

    @torch.no_grad()
    def _generate(
        self,
        source: torch.Tensor,
        masks: list[torch.Tensor],
        prompts: list[str],
        generators: list[torch.Generator],
    ) -> torch.Tensor:
        dtype, device = self.model.dtype, self.model.device
        noise = randn_per_sample(generators, source.shape[1:], dtype, device)
        first = self.schedule.timesteps[self.start]
        latents = (
            self.schedule.add_noise(source, noise, first) if self.cfg.start_from_source else noise
        )
        cond = self.model.encode_prompts(prompts)
        uncond = self.model.encode_prompts([""]).expand_as(cond)
        blend = BackgroundBlend(self.schedule, source, lambda i: masks[i - self.start], generators)
        return denoise(
            self.model,
            self.schedule,
            latents,
            cond,
            uncond,
            float(self.cfg.guidance),
            [blend],
            start=self.start,
        )

    # -- candidates -------------------------------------------------------------------------------
    def _best_candidates(self, batch: Batch, candidates: torch.Tensor) -> torch.Tensor:
        """(K,B,...) candidates -> (B,...) the one whose masked image is closest to the editing
        prompt in CLIP (the paper's ranking); every candidate's score goes into the notes."""
        count = candidates.shape[0]
        images = torch.from_numpy(self._decode_shared(candidates.flatten(0, 1)))
        images = images.permute(0, 3, 1, 2)
        masks = resized_masks(batch.masks, tuple(images.shape[-2:])).repeat(count, 1, 1, 1)
        scores = self.clip.score(masked_uint8(images, masks), batch.target_prompts * count)
        scores = scores.view(count, len(batch))
        best = scores.argmax(dim=0)
        for i, note in enumerate(batch.notes):
            note["candidate_scores"] = [round(float(s), 4) for s in scores[:, i]]
            note["candidate"] = int(best[i])
        return candidates[best, torch.arange(len(batch))]

    def _decode_shared(self, latents: torch.Tensor) -> np.ndarray:
        """The reference's decode: ``1 / scaling x z`` through the VAE, all in the model dtype."""
        z = latents.to(self.model.device, self.model.dtype) * (1 / self.model.scaling_factor)
        with torch.no_grad():
            return to_uint8(self.model.vae.decode(z).sample, rounding=True)
