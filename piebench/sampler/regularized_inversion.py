"""DDIM inversion on pix2pix-zero's grid with its noise regularisation, as the PIE-Bench
reference runs it (its patched ``DDIMInverseScheduler``, all S steps).

Notation (code -> paper): ``latents`` -> x_t, ``eps`` -> epsilon_theta(x_t, t, c) (conditional
only: no CFG), ``alphas_cumprod[k]`` -> alpha-bar_k.

The UNet sees t = offset, offset + ratio, ..., T - ratio + offset (1, 21, ..., 981 for 50 steps of
SD's grid), and the step at t moves x from alpha-bar_{t-1} to alpha-bar_{t+ratio-1}, the last one
to alpha-bar_{T-1} (the reference's fix for "only 48 steps"):
alpha-bar_0 -> alpha-bar_20 -> ... -> alpha-bar_980 -> alpha-bar_999. The update is DDIM's:
x0_pred = (x - sqrt(1 - a) eps) / sqrt(a); x_next = sqrt(a_next) x0_pred + sqrt(1 - a_next) eps.
This grid is not the one the editing passes denoise on (981 ... 1 with alpha-bar_t); Direct
Inversion's offsets inherit the mismatch (see ``methods/pix2pix_zero.py``).
"""

from __future__ import annotations

import random

import torch

from piebench.models.sd import SDModel
from piebench.sampler.noise_regularization import RegularizationSettings, regularize_noise
from piebench.sampler.schedule import DDIMSchedule


def inversion_step(
    schedule: DDIMSchedule, eps: torch.Tensor, t: int, latents: torch.Tensor
) -> torch.Tensor:
    """x at alpha-bar_{t-1} -> alpha-bar_{min(t + ratio, T) - 1} (the reference's inverse step)."""
    if t < 1:
        raise ValueError(f"pix2pix-zero's inversion needs timesteps >= 1 (steps_offset 1), got {t}")
    total = schedule.config.num_train_timesteps
    a_t = schedule.alphas_cumprod[t - 1]
    a_next = schedule.alphas_cumprod[min(t + schedule.ratio, total) - 1]
    x0_pred = (latents - (1 - a_t) ** 0.5 * eps) / a_t.sqrt()
    return a_next.sqrt() * x0_pred + (1 - a_next).sqrt() * eps


@torch.no_grad()
def regularized_invert(
    model: SDModel,
    schedule: DDIMSchedule,
    latents: torch.Tensor,
    cond: torch.Tensor,
    rngs: list[random.Random],
    settings: RegularizationSettings,
) -> torch.Tensor:
    """Invert (B,4,h,w) latents with the prompt embeddings ``cond`` (B,77,D), regularising each
    step's noise per sample (``rngs``: one shift generator per sample); returns the
    (S+1,B,4,h,w) trajectory ``[x_0, ..., x_T]``."""
    trajectory = [latents]
    for t in schedule.inversion_timesteps:
        eps = schedule.to_eps(model.predict(latents, t, cond), t, latents)
        eps = regularize_noise(eps, rngs, settings)
        latents = inversion_step(schedule, eps, t, latents)
        trajectory.append(latents)
    return torch.stack(trajectory)
