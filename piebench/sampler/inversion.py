"""DDIM inversion as the reference does it: the source prompt's conditional prediction only
(``guidance=None``), stepping t_{i} -> t_{i+1} with the explicit ``next_step`` formula.

An inversion guidance scale (the paper's ablation) runs CFG with the null prompt instead.
The returned trajectory is (S+1, B, 4, h, w) in inversion order: ``[z*_0, z*_{t_1}, ..., z*_T]``;
denoising step ``i`` (timestep ``schedule.timesteps[i]``) goes from ``trajectory[S - i]`` to
``trajectory[S - i - 1]``.
"""

from __future__ import annotations

import torch

from piebench.models.sd import SDModel
from piebench.sampler.loop import guided_eps
from piebench.sampler.schedule import DDIMSchedule


@torch.no_grad()
def ddim_invert(
    model: SDModel,
    schedule: DDIMSchedule,
    latents: torch.Tensor,
    cond: torch.Tensor,
    uncond: torch.Tensor | None = None,
    guidance: float | None = None,
) -> torch.Tensor:
    """Invert (B,4,h,w) latents; returns the (S+1,B,4,h,w) trajectory."""
    if guidance is not None and uncond is None:
        raise ValueError("inversion guidance needs the null-prompt embedding")
    trajectory = [latents]
    for t in schedule.inversion_timesteps:
        if guidance is None:
            eps = schedule.to_eps(model.predict(latents, t, cond), t, latents)
        else:
            eps = guided_eps(model, schedule, latents, t, cond, uncond, guidance)
        latents = schedule.next_step(eps, t, latents)
        trajectory.append(latents)
    return torch.stack(trajectory)
