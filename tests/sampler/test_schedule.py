"""Sampler maths with an analytic noise model: eps depends on t only, so DDIM inversion followed
by DDIM denoising must return the start exactly; a timestep off-by-one breaks that."""

import pytest
import torch

from piebench.sampler.inversion import ddim_invert
from piebench.sampler.loop import denoise
from piebench.sampler.schedule import DDIMSchedule, SchedulerConfig

P2P_GRID = SchedulerConfig(steps_offset=1)  # DDIM / NTI / NPI / Direct Inversion
OWN_GRID = SchedulerConfig(steps_offset=0)  # EDICT / Blended Latent Diffusion


class AnalyticModel:
    """eps(x, t) = f(t): independent of x and of the prompt."""

    def __init__(self, shift: int = 0) -> None:
        self.shift = shift

    def predict(self, latents, t, context):
        g = torch.Generator().manual_seed(int(t) + self.shift)
        return torch.randn(latents.shape[1:], generator=g).expand_as(latents).clone()


def test_p2p_family_grid_is_the_pipelines_981_to_1():
    schedule = DDIMSchedule(50, P2P_GRID)
    assert schedule.timesteps[:3] == [981, 961, 941] and schedule.timesteps[-1] == 1
    assert schedule.inversion_timesteps[0] == 1 and len(schedule.timesteps) == 50
    assert torch.equal(schedule.final_alpha_cumprod, schedule.alphas_cumprod[0])
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    torch.testing.assert_close(schedule.alphas_cumprod, torch.cumprod(1 - betas, 0))


def test_own_scheduler_grid_is_980_to_0():
    schedule = DDIMSchedule(50, OWN_GRID)
    assert schedule.timesteps[:3] == [980, 960, 940] and schedule.timesteps[-1] == 0


def test_first_inversion_step_on_the_p2p_grid_is_a_real_step():
    """t = -19 -> 1: from the final alpha (alphas_cumprod[0]) to alphas_cumprod[1]."""
    schedule = DDIMSchedule(50, P2P_GRID)
    x, eps = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    a0, a1 = schedule.alphas_cumprod[0], schedule.alphas_cumprod[1]
    expected = a1**0.5 * (x - (1 - a0) ** 0.5 * eps) / a0**0.5 + (1 - a1) ** 0.5 * eps
    torch.testing.assert_close(schedule.next_step(eps, 1, x), expected)
    assert (schedule.next_step(eps, 1, x) - x).abs().max() > 1e-4
    # and the last denoising step 1 -> -19 undoes it
    torch.testing.assert_close(schedule.prev_step(eps, 1, expected), x, atol=1e-5, rtol=1e-5)


def test_first_inversion_step_on_the_own_grid_is_an_identity():
    schedule = DDIMSchedule(50, OWN_GRID)
    x, eps = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    torch.testing.assert_close(schedule.next_step(eps, 0, x), x)
    torch.testing.assert_close(schedule.prev_step(eps, 0, x), x)


@pytest.mark.parametrize("steps", [10, 50])
@pytest.mark.parametrize("grid", [P2P_GRID, OWN_GRID], ids=["offset1", "offset0"])
def test_invert_then_denoise_returns_start(steps, grid):
    schedule = DDIMSchedule(steps, grid)
    x0 = torch.randn(2, 4, 8, 8)
    cond = torch.zeros(2, 77, 8)
    trajectory = ddim_invert(AnalyticModel(), schedule, x0, cond)
    assert trajectory.shape == (steps + 1, 2, 4, 8, 8)
    out = denoise(AnalyticModel(), schedule, trajectory[-1], cond, cond, guidance=7.5)
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=1e-4)
    # a noise model read one step off (eps of t + ratio) does not come back: the check can fail
    shifted = denoise(
        AnalyticModel(shift=schedule.ratio), schedule, trajectory[-1], cond, cond, 7.5
    )
    assert (shifted - x0).abs().max() > 1e-2
