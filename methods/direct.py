"""Direct Inversion (PnP Inversion) + Prompt-to-Prompt.

After every denoising step the source branch is put back on the inversion trajectory,
z_src <- z_src + s (z*_{t-1} - z_src), while the target branch is left alone. The reference
computes these offsets in a separate 50-step pass; the source row of the edit pass computes
exactly the same quantity (P2P never changes the source branch), so we apply the correction
live: two passes in all (inversion, edit) instead of the reference's four.

Ablations are config values: ``offset_scale`` s (paper: 0.4, 0.8; 1 = the method),
``interval`` k (correct only at steps i with i % k == 0; 1 = the method), ``add_target``
(the target branch also gets the offset the reference's offset pass computes for the target
prompt), ``inverse_guidance`` / ``guidance`` (inversion / forward CFG) and ``steps``.

Notation (code -> paper): ``trajectory[S - i - 1]`` -> z*_{t-1}; ``target_offsets[i]`` -> the
target row's offset at step i: z*_{t-1} - DDIM(z*_t, eps_cfg(z*_t, target prompt)), computed
without attention control. In the reference's offset pass the target row restarts from z*_{t-1}
after each step, so every target offset depends only on the trajectory: we compute them up front,
batched over samples (2B UNet rows per step), which is exact and half the reference's pass.
"""

from __future__ import annotations

import torch

from piebench.methods.base import Batch, Inversion
from piebench.methods.ddim import DDIMInversion
from piebench.models.sd import SDModel
from piebench.sampler.hooks import StepHook
from piebench.sampler.loop import guided_eps
from piebench.sampler.schedule import DDIMSchedule


class SourceOnTrajectory(StepHook):
    """Step-end hook: pull the first row of each sample onto the inversion trajectory.

    Rows are grouped per sample (``[src, tgt]`` in the edit pass, ``[src]`` when reconstructing).
    With ``target_offsets`` (S,B,4,h,w) the second row of each group gets s x its offset too.
    """

    def __init__(
        self,
        trajectory: torch.Tensor,
        scale: float = 1.0,
        interval: int = 1,
        target_offsets: torch.Tensor | None = None,
    ) -> None:
        if interval < 1:
            raise ValueError(f"method.interval must be >= 1, got {interval}")
        self.trajectory, self.scale, self.interval = trajectory, scale, interval
        self.target_offsets = target_offsets

    def step_end(self, i: int, t: int, latents: torch.Tensor) -> torch.Tensor:
        if i % self.interval:
            return latents
        on_trajectory = self.trajectory[len(self.trajectory) - i - 2]
        rows = latents.view(on_trajectory.shape[0], -1, *latents.shape[1:])
        out = [rows[:, 0] + self.scale * (on_trajectory - rows[:, 0]), *rows[:, 1:].unbind(1)]
        if self.target_offsets is not None and len(out) > 1:
            out[1] = out[1] + self.scale * self.target_offsets[i]
        return torch.stack(out, dim=1).view_as(latents)


@torch.no_grad()
def target_offsets(
    model: SDModel,
    schedule: DDIMSchedule,
    trajectory: torch.Tensor,
    cond_tgt: torch.Tensor,
    uncond: torch.Tensor,
    guidance: float,
) -> torch.Tensor:
    """(S,B,4,h,w): z*_{t-1} minus the guided DDIM step from z*_t with the target prompt."""
    steps = schedule.num_steps
    offsets = []
    for i, t in enumerate(schedule.timesteps):
        z_t, z_prev = trajectory[steps - i], trajectory[steps - i - 1]
        eps = guided_eps(model, schedule, z_t, t, cond_tgt, uncond, guidance)
        offsets.append(z_prev - schedule.prev_step(eps, t, z_t))
    return torch.stack(offsets)


class DirectInversion(DDIMInversion):
    """DDIM inversion, then P2P editing with the source branch on the stored trajectory."""

    def _hook(
        self, inversion: Inversion, offsets: torch.Tensor | None = None
    ) -> SourceOnTrajectory:
        scale = float(self.cfg.get("offset_scale", 1.0))
        interval = int(self.cfg.get("interval", 1))
        return SourceOnTrajectory(inversion.trajectory, scale, interval, offsets)

    def edit_hooks(self, batch: Batch, inversion: Inversion) -> list[StepHook]:
        offsets = None
        if self.cfg.get("add_target", False):
            cond_tgt = self.model.encode_prompts(batch.target_prompts, batch.ids)
            uncond = self.edit_uncond(batch, inversion)[1::2]
            guidance = float(self.cfg.guidance)
            offsets = target_offsets(
                self.model, self.schedule, inversion.trajectory, cond_tgt, uncond, guidance
            )
        return [self._hook(inversion, offsets)]

    def source_hooks(self, batch: Batch, inversion: Inversion) -> list[StepHook]:
        return [self._hook(inversion)]
