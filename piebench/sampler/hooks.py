"""Hook points of the denoising loop. Methods plug in here instead of writing their own loop.

Order inside one step ``i`` (timestep ``t``): ``step_start`` (may replace the latents),
the UNet + classifier-free guidance, ``after_guidance`` (may change eps), the DDIM update,
``step_end`` (may replace the new latents). Hooks run in list order at each point.
"""

from __future__ import annotations

import torch


class StepHook:
    """No-op base: override the points you need."""

    def step_start(self, i: int, t: int, latents: torch.Tensor) -> torch.Tensor:
        return latents

    def after_guidance(
        self, i: int, t: int, latents: torch.Tensor, eps: torch.Tensor
    ) -> torch.Tensor:
        return eps

    def step_end(self, i: int, t: int, latents: torch.Tensor) -> torch.Tensor:
        return latents
