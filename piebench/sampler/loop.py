"""The one denoising loop every method runs: DDIM with classifier-free guidance over a batch of
latent rows, with hook points (see ``hooks``) where methods plug in.

eps = eps_uncond + w (eps_cond - eps_uncond), computed with one UNet call on [uncond rows, cond rows]
(the reference's batch order). ``uncond`` may be one (R,77,D) tensor or a per-step (S,R,77,D)
tensor (Null-Text / Negative-Prompt inversion).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from piebench.models.sd import SDModel
from piebench.sampler.hooks import StepHook
from piebench.sampler.schedule import DDIMSchedule


def guided_eps(
    model: SDModel,
    schedule: DDIMSchedule,
    latents: torch.Tensor,
    t: int,
    cond: torch.Tensor,
    uncond: torch.Tensor,
    guidance: float,
) -> torch.Tensor:
    """Classifier-free-guided epsilon for (R,4,h,w) latents in one UNet call of 2R rows."""
    out = model.predict(torch.cat([latents, latents]), t, torch.cat([uncond, cond]))
    eps_uncond, eps_cond = schedule.to_eps(out, t, torch.cat([latents, latents])).chunk(2)
    return eps_uncond + guidance * (eps_cond - eps_uncond)


@torch.no_grad()
def denoise(
    model: SDModel,
    schedule: DDIMSchedule,
    latents: torch.Tensor,
    cond: torch.Tensor,
    uncond: torch.Tensor,
    guidance: float,
    hooks: Sequence[StepHook] = (),
    start: int = 0,
) -> torch.Tensor:
    """Run the DDIM steps from index ``start`` of the grid (0: from x_T) to x_0; returns the x_0
    latents (R,4,h,w) in the dtype of ``latents``. Hooks see the step's index in the full grid."""
    per_step = uncond.dim() == 4
    for i, t in enumerate(schedule.timesteps[start:], start=start):
        for hook in hooks:
            latents = hook.step_start(i, t, latents)
        eps = guided_eps(
            model, schedule, latents, t, cond, uncond[i] if per_step else uncond, guidance
        )
        for hook in hooks:
            eps = hook.after_guidance(i, t, latents, eps)
        latents = schedule.prev_step(eps, t, latents)
        for hook in hooks:
            latents = hook.step_end(i, t, latents)
    return latents
