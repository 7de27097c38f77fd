"""EDICT's coupled-sequence maths: the fork's float64 alphas and step forms, exact inversion."""

import numpy as np
import pytest
import torch

from piebench.sampler.coupled import CoupledSchedule, coupled_denoise_step, coupled_invert_step
from piebench.sampler.schedule import DDIMSchedule, SchedulerConfig

OWN_GRID = SchedulerConfig(steps_offset=0)


def analytic_eps(z, t):
    """An epsilon that depends on the latent and t, so the coupling order matters."""
    return torch.tanh(z * (1 + t / 1000)) + 0.1 * z.roll(1, dims=-1)


def test_alphas_are_the_forks_float64_table_and_close_to_diffusers():
    coupled = CoupledSchedule(50, OWN_GRID)
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    expected = torch.from_numpy(np.cumprod(1.0 - betas))
    assert coupled.alphas_cumprod.dtype == torch.float64
    assert torch.equal(coupled.alphas_cumprod, expected)
    assert coupled.alpha(-20) == coupled.alphas_cumprod[0]
    ddim = DDIMSchedule(50, OWN_GRID)
    torch.testing.assert_close(coupled.alphas_cumprod.float(), ddim.alphas_cumprod)
    assert (coupled.alphas_cumprod - ddim.alphas_cumprod.double()).abs().max() > 0


@pytest.mark.parametrize("t", [0, 20, 500, 980])
def test_step_forms_equal_ddim_and_invert_each_other(t):
    coupled = CoupledSchedule(50, OWN_GRID)
    x, eps = (
        torch.randn(2, 4, 8, 8, dtype=torch.float64),
        torch.randn(2, 4, 8, 8, dtype=torch.float64),
    )
    a_t, a_prev = coupled.alpha(t), coupled.alpha(t - 20)
    ddim = a_prev**0.5 * (x - (1 - a_t) ** 0.5 * eps) / a_t**0.5 + (1 - a_prev) ** 0.5 * eps
    torch.testing.assert_close(coupled.prev_step(eps, t, x), ddim, atol=1e-13, rtol=0)
    torch.testing.assert_close(coupled.next_step(eps, t, coupled.prev_step(eps, t, x)), x)


def test_coupled_invert_then_denoise_is_exact_and_leapfrog_order_matters():
    coupled = CoupledSchedule(10, OWN_GRID)
    timesteps = DDIMSchedule(10, OWN_GRID).timesteps[2:]
    z0 = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    x = y = z0
    for j, t in enumerate(reversed(timesteps)):
        x, y = coupled_invert_step(coupled, 0.93, len(timesteps) - 1 - j, t, x, y, analytic_eps)
    start = (x, y)
    for i, t in enumerate(timesteps):
        x, y = coupled_denoise_step(coupled, 0.93, i, t, x, y, analytic_eps)
    torch.testing.assert_close(x, z0, atol=1e-12, rtol=0)
    torch.testing.assert_close(y, z0, atol=1e-12, rtol=0)
    x, y = start  # without the leapfrog swap the denoising does not undo the inversion
    for t in timesteps:
        x, y = coupled_denoise_step(coupled, 0.93, 0, t, x, y, analytic_eps)
    assert (x - z0).abs().max() > 1e-6
