"""Blended Latent Diffusion's step-end blend: keep the denoised latent inside the edit mask and
put the source, noised to the current level, outside it.

After the DDIM step at timestep t (Avrahami et al. 2023, as PIE-Bench's reference runs it):

    z_bg = sqrt(a_t) z_src + sqrt(1 - a_t) n,    z <- z * m + z_bg * (1 - m)

with a fresh n per step from each sample's own generator (drawn in float32 on the CPU, then cast)
and a_t the alpha-bar of the step's own t (not of the step's target), so at t = 0 the background
keeps a little noise, as in the reference. The mask may change over the steps (progressive
shrinking): ``masks(i)`` gives the (B,1,h,w) {0,1} mask of step i.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from piebench.sampler.hooks import StepHook
from piebench.sampler.noise import randn_per_sample
from piebench.sampler.schedule import DDIMSchedule


class BackgroundBlend(StepHook):
    """The blend as a ``step_end`` hook of the shared denoising loop."""

    def __init__(
        self,
        schedule: DDIMSchedule,
        source: torch.Tensor,
        masks: Callable[[int], torch.Tensor],
        generators: Sequence[torch.Generator],
    ) -> None:
        self.schedule = schedule
        self.source = source
        self.masks = masks
        self.generators = generators

    def step_end(self, i: int, t: int, latents: torch.Tensor) -> torch.Tensor:
        noise = randn_per_sample(self.generators, latents.shape[1:], latents.dtype, latents.device)
        background = self.schedule.add_noise(self.source, noise, t)
        mask = self.masks(i)
        return latents * mask + background * (1 - mask)
