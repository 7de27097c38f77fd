"""EDICT's coupled-sequence maths (Wallace et al. 2023), as the reference's EDICT fork computes it.

Notation (code -> paper): ``x, y`` -> the coupled sequences x_t, y_t; ``p`` -> the mixing weight;
``eps(z, t)`` -> the guided epsilon at timestep t; ``a_t`` -> alpha-bar_t.

The DDIM step is written in the fork's algebraic form rather than through x0_pred, with
q = sqrt(a_t / a_prev) and a_prev = alpha-bar at t - ratio (the final alpha below 0):

- denoise t -> t - ratio:  x_prev = x / q - sqrt(1 - a_t) eps / q + sqrt(1 - a_prev) eps
- invert t - ratio -> t:   x_t = q x_prev + sqrt(1 - a_t) eps - q sqrt(1 - a_prev) eps

Alpha-bars are the fork's float64 ones (numpy linspace of sqrt(beta) in float64, squared,
cumulative product); diffusers' float32 table differs by ~1e-7, which EDICT's float64 run would
carry into its images. One coupled denoising step ``i`` at t (leapfrog: odd steps swap the roles of
x and y):

1. x_inter = step(x, eps(y));  2. y_inter = step(y, eps(x_inter));
3. x' = p x_inter + (1 - p) y_inter;  4. y' = (1 - p) x' + p y_inter.

Inversion undoes 4, 3, 2, 1 in that order, so invert -> denoise is exact up to rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from piebench.sampler.schedule import SchedulerConfig

EpsFn = Callable[[torch.Tensor, int], torch.Tensor]
Pair = tuple[torch.Tensor, torch.Tensor]


class CoupledSchedule:
    """The fork's float64 alpha-bars and its two DDIM step forms for a grid of ``num_steps``."""

    def __init__(self, num_steps: int, config: SchedulerConfig) -> None:
        if config.beta_schedule != "scaled_linear":
            raise ValueError(
                f"EDICT supports the scaled_linear betas, got {config.beta_schedule!r}"
            )
        sqrt_betas = np.linspace(
            config.beta_start**0.5,
            config.beta_end**0.5,
            config.num_train_timesteps,
            dtype=np.float64,
        )
        alphas_cumprod = np.cumprod(1.0 - sqrt_betas**2)
        self.alphas_cumprod = torch.from_numpy(alphas_cumprod)
        self.final_alpha_cumprod = self.alphas_cumprod[0]  # set_alpha_to_one=False
        self.ratio = config.num_train_timesteps // num_steps

    def alpha(self, t: int) -> torch.Tensor:
        """alpha-bar_t as a float64 scalar tensor; the final alpha for t < 0."""
        return self.alphas_cumprod[t] if t >= 0 else self.final_alpha_cumprod

    def _terms(self, t: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a_t, a_prev = self.alpha(t), self.alpha(t - self.ratio)
        return (a_t / a_prev) ** 0.5, (1 - a_t) ** 0.5, (1 - a_prev) ** 0.5

    def prev_step(self, eps: torch.Tensor, t: int, latents: torch.Tensor) -> torch.Tensor:
        """Denoise x_t -> x_{t - ratio} (eta = 0), in the latents' dtype."""
        q, s_t, s_prev = self._terms(t)
        out = (1.0 / q) * latents - (1.0 / q) * s_t * eps + s_prev * eps
        return out.to(latents.dtype)

    def next_step(self, eps: torch.Tensor, t: int, latents: torch.Tensor) -> torch.Tensor:
        """Invert x_{t - ratio} -> x_t: the exact algebraic inverse of ``prev_step``."""
        q, s_t, s_prev = self._terms(t)
        out = q * latents + s_t * eps - q * s_prev * eps
        return out.to(latents.dtype)


def coupled_denoise_step(
    schedule: CoupledSchedule,
    p: float,
    i: int,
    t: int,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: EpsFn,
) -> Pair:
    """Steps 1-4 above for step ``i`` of the denoising loop (x first on even ``i``)."""
    first, second = (x, y) if i % 2 == 0 else (y, x)
    first = schedule.prev_step(eps(second, t), t, first)
    second = schedule.prev_step(eps(first, t), t, second)
    x, y = (first, second) if i % 2 == 0 else (second, first)
    x = p * x + (1 - p) * y
    return x, (1 - p) * x + p * y


def coupled_invert_step(
    schedule: CoupledSchedule,
    p: float,
    i: int,
    t: int,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: EpsFn,
) -> Pair:
    """The inverse of ``coupled_denoise_step(i, t)``: undo the mixing, then 2 and 1."""
    y = (y - (1 - p) * x) / p
    x = (x - (1 - p) * y) / p
    first, second = (x, y) if i % 2 == 0 else (y, x)
    second = schedule.next_step(eps(first, t), t, second)
    first = schedule.next_step(eps(second, t), t, first)
    return (first, second) if i % 2 == 0 else (second, first)
