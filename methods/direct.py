"""Direct Inversion (PnP Inversion) + Prompt-to-Prompt.

After every denoising step the source branch is put back on the inversion trajectory,
z_src <- z_src + s (z*_{t-1} - z_src), while the target branch is left alone. The reference
computes these offsets in a separate 50-step pass; the source row of the edit pass computes
exactly the same quantity (P2P never changes the source branch), so we apply the correction
live: two passes in all (inversion, edit) instead of the reference's four.

Ablations are config values: ``offset_scale`` s (paper: 0.4, 0.8; 1 = the method),
``interval`` k (correct only at steps i with i % k == 0; 1 = the method).
"""

from __future__ import annotations

import torch

from piebench.methods.base import Batch, Inversion
from piebench.methods.ddim import DDIMInversion
from piebench.sampler.hooks import StepHook


class SourceOnTrajectory(StepHook):
    """Step-end hook: pull the source rows of [src, tgt] pairs onto the inversion trajectory."""

    def __init__(self, trajectory: torch.Tensor, scale: float = 1.0, interval: int = 1) -> None:
        if interval < 1:
            raise ValueError(f"method.interval must be >= 1, got {interval}")
        self.trajectory, self.scale, self.interval = trajectory, scale, interval

    def step_end(self, i: int, t: int, latents: torch.Tensor) -> torch.Tensor:
        if i % self.interval:
            return latents
        target = self.trajectory[len(self.trajectory) - i - 2]
        rows = latents.view(target.shape[0], 2, *latents.shape[1:])
        source = rows[:, 0] + self.scale * (target - rows[:, 0])
        return torch.stack([source, rows[:, 1]], dim=1).view_as(latents)


class DirectInversion(DDIMInversion):
    """DDIM inversion, then P2P editing with the source branch on the stored trajectory."""

    def edit_hooks(self, batch: Batch, inversion: Inversion) -> list[StepHook]:
        scale = float(self.cfg.get("offset_scale", 1.0))
        interval = int(self.cfg.get("interval", 1))
        return [SourceOnTrajectory(inversion.trajectory, scale, interval)]
