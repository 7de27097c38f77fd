"""Sampler maths with an analytic noise model: eps depends on t only, so DDIM inversion followed
by DDIM denoising must return the start exactly; a timestep off-by-one breaks that."""

import pytest
import torch

from piebench.sampler.inversion import ddim_invert
from piebench.sampler.loop import denoise
from piebench.sampler.schedule import DDIMSchedule


class AnalyticModel:
    """eps(x, t) = f(t): independent of x and of the prompt."""

    def __init__(self, shift: int = 0) -> None:
        self.shift = shift

    def predict(self, latents, t, context):
        g = torch.Generator().manual_seed(int(t) + self.shift)
        return torch.randn(latents.shape[1:], generator=g).expand_as(latents).clone()


def test_reference_timesteps_and_alphas():
    schedule = DDIMSchedule(50)
    assert schedule.timesteps[:3] == [980, 960, 940] and schedule.timesteps[-1] == 0
    assert torch.equal(schedule.final_alpha_cumprod, schedule.alphas_cumprod[0])
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    torch.testing.assert_close(schedule.alphas_cumprod, torch.cumprod(1 - betas, 0))


def test_first_inversion_step_is_identity_like_the_reference():
    schedule = DDIMSchedule(50)
    x, eps = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    torch.testing.assert_close(schedule.next_step(eps, 0, x), x)
    torch.testing.assert_close(schedule.prev_step(eps, 0, x), x)


@pytest.mark.parametrize("steps", [10, 50])
def test_invert_then_denoise_returns_start(steps):
    schedule = DDIMSchedule(steps)
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
