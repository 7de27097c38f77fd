"""DDIM timestep maths as the reference uses it, written out explicitly.

Notation (code -> paper): ``alphas_cumprod[t]`` -> alpha-bar_t, ``eps`` -> epsilon_theta(x_t, t),
``x0_pred`` -> predicted x_0, ``latents`` -> x_t.

The reference builds ``DDIMScheduler(beta_start=0.00085, beta_end=0.012, "scaled_linear",
clip_sample=False, set_alpha_to_one=False)`` ("leading" spacing). Where the timestep grid ends is
a property of each method (``steps_offset``), because the reference's methods build their
schedulers differently:

- P2P family (DDIM, NTI, NPI, Direct Inversion): the scheduler is handed to
  ``StableDiffusionPipeline``, whose constructor rewrites any ``steps_offset != 1`` to 1, so with
  50 steps the grid is 981, 961, ..., 1. The first denoising step's "previous" alpha-bar and the
  first inversion step's starting alpha-bar are the final alpha (``alphas_cumprod[0]``), so the
  first inversion step 0 -> 1 is a real step.
- EDICT and Blended Latent Diffusion build their scheduler outside a pipeline: steps_offset 0,
  grid 980, 960, ..., 0.

We take alphas and timesteps from diffusers and write both update rules ourselves:

1. ``prev_step`` (denoising, t -> t - ratio): x0_pred = (x - sqrt(1 - a_t) eps) / sqrt(a_t);
   x_prev = sqrt(a_prev) x0_pred + sqrt(1 - a_prev) eps, with a_prev = final alpha when t - ratio < 0.
2. ``next_step`` (inversion, the P2P formula): from t_cur = min(t - ratio, 999) to t, using
   the final alpha when t_cur < 0. With steps_offset 0 the first inversion step (t=0) maps
   a_0 -> a_0, an identity up to rounding; with steps_offset 1 it maps a_0 -> a_1. Both as in the
   reference; diffusers' ``DDIMInverseScheduler`` differs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from diffusers import DDIMScheduler


@dataclass(frozen=True)
class SchedulerConfig:
    """The betas of the reference's DDIM scheduler (SD 1.x/2.x training schedule)."""

    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"
    num_train_timesteps: int = 1000
    prediction_type: str = "epsilon"
    steps_offset: int = 1  # P2P family (the pipeline's rewrite); EDICT / BLD: 0
    clip_sample: bool = False  # clamp x0_pred to [-1, 1] when denoising (pix2pix-zero's scheduler)


class DDIMSchedule:
    """Timesteps and alpha-bars for ``num_steps`` DDIM steps, plus the two update rules."""

    def __init__(self, num_steps: int, config: SchedulerConfig = SchedulerConfig()) -> None:
        if num_steps < 1 or num_steps > config.num_train_timesteps:
            raise ValueError(
                f"num_steps must be in 1..{config.num_train_timesteps}, got {num_steps}"
            )
        scheduler = DDIMScheduler(
            beta_start=config.beta_start,
            beta_end=config.beta_end,
            beta_schedule=config.beta_schedule,
            num_train_timesteps=config.num_train_timesteps,
            clip_sample=False,
            set_alpha_to_one=False,
            prediction_type=config.prediction_type,
            steps_offset=config.steps_offset,
        )
        scheduler.set_timesteps(num_steps)
        self.config = config
        self.num_steps = num_steps
        self.ratio = config.num_train_timesteps // num_steps
        self.timesteps: list[int] = [int(t) for t in scheduler.timesteps]
        self.alphas_cumprod = scheduler.alphas_cumprod.clone()
        self.final_alpha_cumprod = scheduler.final_alpha_cumprod.clone()

    def with_alphas_in(self, dtype: torch.dtype) -> DDIMSchedule:
        """A copy whose alpha-bars are rounded to ``dtype`` (the final alpha is kept).

        diffusers 0.10's ``add_noise`` casts the scheduler's alpha-bars to the sample dtype in
        place, so the reference's fp16 Blended Latent Diffusion steps with fp16 alpha-bars (and
        fp16 step coefficients) while its final alpha stays float32.
        """
        twin = copy.copy(self)
        twin.alphas_cumprod = self.alphas_cumprod.to(dtype)
        return twin

    def alpha(self, t: int) -> torch.Tensor:
        """alpha-bar_t; the final alpha for t < 0 (``set_alpha_to_one=False``: alpha-bar_0)."""
        return self.alphas_cumprod[t] if t >= 0 else self.final_alpha_cumprod

    def add_noise(self, latents: torch.Tensor, noise: torch.Tensor, t: int) -> torch.Tensor:
        """``latents`` noised to timestep ``t``: sqrt(a_t) z + sqrt(1 - a_t) n, with a_t in the
        alpha-bars' precision (diffusers' ``add_noise``)."""
        a_t = self.alpha(t)
        return a_t**0.5 * latents + (1 - a_t) ** 0.5 * noise

    def to_eps(self, model_output: torch.Tensor, t: int, latents: torch.Tensor) -> torch.Tensor:
        """The model's prediction as epsilon (v-prediction models are converted)."""
        if self.config.prediction_type == "epsilon":
            return model_output
        if self.config.prediction_type == "v_prediction":
            a_t = self.alpha(t)
            return a_t**0.5 * model_output + (1 - a_t) ** 0.5 * latents
        raise ValueError(f"unsupported prediction_type {self.config.prediction_type!r}")

    def prev_step(self, eps: torch.Tensor, t: int, latents: torch.Tensor) -> torch.Tensor:
        """One deterministic DDIM denoising step x_t -> x_{t - ratio} (eta = 0); with
        ``clip_sample`` x0_pred is clamped to [-1, 1] first, as diffusers' DDIMScheduler does."""
        a_t, a_prev = self.alpha(t), self.alpha(t - self.ratio)
        x0_pred = (latents - (1 - a_t) ** 0.5 * eps) / a_t**0.5
        if self.config.clip_sample:
            x0_pred = x0_pred.clamp(-1, 1)
        return a_prev**0.5 * x0_pred + (1 - a_prev) ** 0.5 * eps

    def next_step(self, eps: torch.Tensor, t: int, latents: torch.Tensor) -> torch.Tensor:
        """One DDIM inversion step x_{t - ratio} -> x_t (the reference's ``next_step``)."""
        t_cur = min(t - self.ratio, self.config.num_train_timesteps - 1)
        a_cur, a_next = self.alpha(t_cur), self.alpha(t)
        x0_pred = (latents - (1 - a_cur) ** 0.5 * eps) / a_cur**0.5
        return a_next**0.5 * x0_pred + (1 - a_next) ** 0.5 * eps

    @property
    def inversion_timesteps(self) -> list[int]:
        """Timesteps in inversion order (offset, offset + ratio, ..., T)."""
        return self.timesteps[::-1]
