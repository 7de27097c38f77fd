"""pix2pix-zero (Parmar et al., SIGGRAPH 2023) as PIE-Bench's reference runs it
(``run_editing_pix2pix_zero.py``: rows "ddim+pix2pix-zero" and "directinversion+pix2pix-zero").

Notation (code -> paper): ``caption`` -> c, the text of the source image; ``direction`` ->
Delta c_edit = mean(E(target sentences)) - mean(E(source sentences)) over all 77 positions;
``maps`` -> M_t, the cross-attention maps; ``trajectory`` -> the inverted x_0 ... x_T.

1. Caption: BLIP (``caption=blip``, the default and the reference's; see
   ``piebench.models.captioner``) or the PIE-Bench source prompt (``caption=source_prompt``,
   offline, as the parity fixtures were made). It is the prompt of the inversion and of both
   editing passes, and their negative prompt.
2. Inversion: x_0 = a VAE posterior sample (the sample's own CPU generator: ``randn((1,4,h,w))``
   first thing after seeding, as the reference draws it right after ``manual_seed`` when run on a
   CPU; on a GPU it draws from the CUDA generator, which no CPU draw replays) x scaling factor;
   conditional-only DDIM inversion with the caption on the reference's grid, each step's noise
   regularised per sample (``piebench.sampler.regularized_inversion``, ``noise_regularization``;
   shifts from ``random.Random(seed)`` per sample).
3. Editing, CFG ``guidance`` with the caption as negative prompt, on the denoising grid
   981 ... 1 with the edit scheduler's ``clip_sample`` (the checkpoint's scheduler config, DDIM's
   default True when it has no such key: the reference builds ``DDIMScheduler.from_config``):
   pass 1 denoises with [caption, caption] and gives the reference maps; pass 2 runs
   [caption, caption + direction] and at every step takes one SGD step of size ``xa_guidance`` on
   its doubled UNet input along the gradient of
   sum over layers of mean over heads and CFG halves of sum over positions and tokens (M - M_ref)^2,
   per sample (summed over samples, so a sample's step does not shrink with the batch; the
   reference's batch is one image), then predicts eps again from the updated halves without
   gradient and continues from the updated unconditional half.
4. ``inversion=direct``: after each pass-1 step the offset trajectory[S-1-i] - x is stored and
   added, and pass 2 adds the same offsets. As in the reference, the trajectory state of step i is
   the inversion's x at alpha-bar_{980-20i} (its grid) while the step lands at alpha-bar_{961-20i}
   (the denoising grid): the correction lags the grid by 19 timesteps, and it is reproduced.

Order of work: the reference runs pass 1 to the end (keeping every map of every step, ~6.6 GB
per 512 px image in fp32) before pass 2. Pass 1 does not depend on pass 2, so we run them in
lockstep and keep only the current step's maps: the same numbers, ~1/50 of the map memory.
Decoding rounds to uint8 (diffusers' ``numpy_to_pil``), where the P2P family truncates.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from piebench.config_schema import ConfigError
from piebench.methods.base import RECONSTRUCTION_PANEL, Batch, EditMethod, Inversion
from piebench.models.captioner import BlipCaptioner
from piebench.models.sd import SDModel
from piebench.p2p.cross_attention_maps import AttentionMaps, record_cross_attention
from piebench.sampler.loop import guided_eps
from piebench.sampler.noise import randn_per_sample
from piebench.sampler.noise_regularization import RegularizationSettings
from piebench.sampler.regularized_inversion import regularized_invert
from piebench.sampler.schedule import DDIMSchedule, SchedulerConfig

INVERSIONS = ("ddim", "direct")


def attention_distance(maps: AttentionMaps, reference: AttentionMaps, samples: int) -> torch.Tensor:
    """(B,) per-sample distance: sum over layers of the mean over CFG halves and heads of
    sum over positions and tokens of (M - M_ref)^2. Maps are (2B * heads, tokens, 77) with
    rows ordered [uncond samples, cond samples] x heads."""
    total = None
    for name, ref in reference.items():
        current = maps[name]
        squared = ((current - ref) ** 2).sum((1, 2)).view(2, samples, -1)
        per_sample = squared.mean((0, 2))
        total = per_sample if total is None else total + per_sample
    if total is None:
        raise RuntimeError(
            "no cross-attention maps were recorded (is the UNet's attention hooked?)"
        )
    return total


def read_sentences(path: str, key: str) -> list[str]:
    """Non-empty lines of a sentence-bank file."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"config key method.{key}: no such file {file}")
    sentences = [line.strip() for line in file.read_text(encoding="utf-8").splitlines()]
    sentences = [s for s in sentences if s]
    if not sentences:
        raise ConfigError(f"config key method.{key}: {file} holds no sentence")
    return sentences


class Pix2PixZero(EditMethod):
    """Noise-regularised inversion with the caption; edit direction + cross-attention guidance."""

    def __init__(self, model: SDModel, cfg: Any) -> None:
        super().__init__(model, cfg)
        if str(cfg.inversion) not in INVERSIONS:
            raise ConfigError(
                f"config key method.inversion={cfg.inversion!r}: valid values {', '.join(INVERSIONS)}"
            )
        clip = cfg.clip_sample
        if clip is None:
            clip = model.scheduler_config.get("clip_sample", True)
        self.edit_schedule = DDIMSchedule(
            self.schedule.num_steps,
            SchedulerConfig(
                prediction_type=model.prediction_type,
                steps_offset=int(cfg.steps_offset),
                clip_sample=bool(clip),
            ),
        )
        self.regularization = RegularizationSettings(
            lambda_ac=float(cfg.lambda_ac),
            lambda_kl=float(cfg.lambda_kl),
            outer=int(cfg.reg_outer),
            inner=int(cfg.reg_inner),
            allow_zero_shift=bool(cfg.allow_zero_shift),
        )
        self.captioner = (
            BlipCaptioner(str(cfg.caption_model), model.device) if cfg.caption == "blip" else None
        )
        self.bank_direction = self._bank_direction(cfg.sentences)

    # -- prompts -----------------------------------------------------------------------------------
    def _mean_embedding(self, sentences: list[str]) -> torch.Tensor:
        """(77,D) mean of the sentences' last hidden states (one sentence at a time, as the
        reference encodes them)."""
        return torch.cat([self.model.encode_prompts([s]) for s in sentences]).mean(0)

    def _bank_direction(self, sentences: Any) -> torch.Tensor | None:
        """The one direction of ``method.sentences.source/target`` files, or None."""
        if sentences.source is None and sentences.target is None:
            return None
        if sentences.source is None or sentences.target is None:
            raise ConfigError(
                "config keys method.sentences.source and method.sentences.target: set both or neither"
            )
        source = read_sentences(str(sentences.source), "sentences.source")
        target = read_sentences(str(sentences.target), "sentences.target")
        return self._mean_embedding(target) - self._mean_embedding(source)

    def directions(self, batch: Batch) -> torch.Tensor:
        """(B,77,D) edit directions: the sentence banks', else target minus source prompt."""
        if self.bank_direction is not None:
            return self.bank_direction.expand(len(batch), -1, -1)
        return torch.stack(
            [
                self._mean_embedding([tgt]) - self._mean_embedding([src])
                for src, tgt in zip(batch.source_prompts, batch.target_prompts)
            ]
        )

    def captions(self, batch: Batch) -> list[str]:
        if self.captioner is None:
            return list(batch.source_prompts)
        captions = self.captioner(batch.images)
        for notes, caption in zip(batch.notes, captions):
            notes["caption"] = caption
        return captions

    # -- encoding and decoding -------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, batch: Batch) -> torch.Tensor:
        """x_0: a VAE posterior sample x scaling factor, (B,4,h,w) float32. Pixels as the
        reference maps them: x / 255 in float64, then float32, then (x - 0.5) * 2."""
        model = self.model
        pixels = ((batch.images.double() / 255).float() - 0.5) * 2
        posterior = model.vae.encode(pixels.to(model.device, model.dtype)).latent_dist
        noise = randn_per_sample(
            batch.generators, posterior.mean.shape[1:], model.dtype, posterior.mean.device
        )
        sample = posterior.mean + posterior.std * noise
        return sample.float() * model.scaling_factor

    def decode(self, latents: torch.Tensor, batch: Batch) -> np.ndarray:
        return self.model.decode(latents, rounding=True)

    # -- the method ------------------------------------------------------------------------------
    def invert(self, batch: Batch) -> Inversion:
        latents = self.encode(batch)
        captions = self.captions(batch)
        cond = self.model.encode_prompts(captions, batch.ids)
        rngs = [random.Random(g.initial_seed()) for g in batch.generators]
        trajectory = regularized_invert(
            self.model, self.schedule, latents, cond, rngs, self.regularization
        )
        return Inversion(latents=latents, trajectory=trajectory, extras={"captions": captions})

    def reconstruct(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        """Pass 1 alone: the reference's reconstruction panel."""
        return self._passes(batch, inversion, edit=False)

    def edit(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        return self._passes(batch, inversion, edit=True)

    def _guided_step(
        self,
        latents: torch.Tensor,
        t: int,
        context: torch.Tensor,
        maps: AttentionMaps,
        reference: AttentionMaps,
    ) -> torch.Tensor:
        """One pass-2 step: SGD on the doubled input towards the reference maps, then the CFG
        DDIM step from the updated unconditional half."""
        samples = latents.shape[0]
        rows = torch.cat([latents, latents]).detach().requires_grad_(True)
        with torch.enable_grad():
            self.model.predict(rows, t, context)
            loss = attention_distance(maps, reference, samples).sum()
            (grad,) = torch.autograd.grad(loss, rows)
        rows = rows.detach().add(grad, alpha=-float(self.cfg.xa_guidance))
        with torch.no_grad():
            eps = self.edit_schedule.to_eps(self.model.predict(rows, t, context), t, rows)
        eps_uncond, eps_cond = eps.chunk(2)
        eps = eps_uncond + float(self.cfg.guidance) * (eps_cond - eps_uncond)
        return self.edit_schedule.prev_step(eps, t, rows[:samples])

    def _passes(self, batch: Batch, inversion: Inversion, edit: bool) -> torch.Tensor:
        """Pass 1 (and, with ``edit``, pass 2 in lockstep); returns that pass's x_0 latents."""
        schedule, guidance = self.edit_schedule, float(self.cfg.guidance)
        caption = self.model.encode_prompts(inversion.extras["captions"], batch.ids)
        context = torch.cat([caption, caption + self.directions(batch).to(caption.dtype)])
        direct = self.cfg.inversion == "direct"
        trajectory = inversion.trajectory
        source = target = trajectory[-1]
        with record_cross_attention(self.model.unet, self.model.explicit_attention) as maps:
            for i, t in enumerate(schedule.timesteps):
                with torch.no_grad():
                    eps = guided_eps(self.model, schedule, source, t, caption, caption, guidance)
                reference = {name: m.detach() for name, m in maps.items()}
                stepped = schedule.prev_step(eps, t, source)
                offset = trajectory[len(trajectory) - 2 - i] - stepped if direct else None
                source = stepped if offset is None else stepped + offset
                if not edit:
                    continue
                target = self._guided_step(target, t, context, maps, reference)
                if offset is not None:
                    target = target + offset
        if edit:  # pass 1's result: the reconstruction panel of the reference's strips
            inversion.extras[RECONSTRUCTION_PANEL] = source
        return target if edit else source
