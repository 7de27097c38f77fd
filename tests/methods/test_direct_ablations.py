"""Direct Inversion's ablations and the reconstruction task on the tiny model."""

import torch

from piebench.methods import METHODS
from tests.conftest import make_batch, method_config

FULL_CONTROL = {"editor.cross_replace_steps": 1.0, "editor.self_replace_steps": 1.0}


def run(model, name, batch, **overrides):
    method = METHODS.get(name)(model, method_config(name, **overrides))
    inversion = method.invert(batch)
    return inversion, method.edit_pairs(batch, inversion)


def test_interval_one_and_inversion_guidance_one_equal_the_default(tiny_model):
    batch = make_batch(1)
    _, default = run(tiny_model, "direct", batch)
    _, interval_one = run(tiny_model, "direct", batch, interval=1)
    _, interval_two = run(tiny_model, "direct", batch, interval=2)
    _, cfg_one = run(tiny_model, "direct", batch, inverse_guidance=1.0)
    assert torch.equal(interval_one, default)
    assert (interval_two - default).abs().max() > 1e-4
    torch.testing.assert_close(cfg_one, default, atol=1e-3, rtol=1e-4)  # w=1 CFG = conditional only


def test_inverse_guidance_runs_cfg_in_the_inversion(tiny_model):
    """method.inverse_guidance=2.5: each inversion step uses eps_u + 2.5 (eps_c - eps_u) with the
    null prompt; the first step is checked against the formula written out here."""
    batch = make_batch(1)
    method = METHODS.get("direct")(tiny_model, method_config("direct", inverse_guidance=2.5))
    inversion = method.invert(batch)
    z0, t = inversion.trajectory[0], method.schedule.inversion_timesteps[0]
    cond = tiny_model.encode_prompts(batch.source_prompts)
    eps_u = tiny_model.predict(z0, t, tiny_model.encode_prompts([""]))
    eps = eps_u + 2.5 * (tiny_model.predict(z0, t, cond) - eps_u)
    a_prev, a_t = method.schedule.alphas_cumprod[0], method.schedule.alphas_cumprod[t]
    x0 = (z0 - (1 - a_prev) ** 0.5 * eps) / a_prev**0.5
    torch.testing.assert_close(
        inversion.trajectory[1], a_t**0.5 * x0 + (1 - a_t) ** 0.5 * eps, atol=1e-5, rtol=1e-5
    )
    plain = METHODS.get("direct")(tiny_model, method_config("direct")).invert(batch)
    assert (plain.trajectory[-1] - inversion.trajectory[-1]).abs().max() > 1e-3


def test_add_target_puts_an_unedited_target_on_the_trajectory_too(tiny_model):
    """Same prompts, full attention control: the target row follows the source row, and with the
    target offset (computed on the trajectory, no control) it lands on z*_0 as well, up to the
    rounding of a differently batched UNet call (~1e-5 per step, grown by the random tiny model)."""
    batch = make_batch(2, same_prompts=True)
    inversion, added = run(tiny_model, "direct", batch, add_target=True, **FULL_CONTROL)
    _, plain = run(tiny_model, "direct", batch, **FULL_CONTROL)
    added_err = (added[1::2] - inversion.latents).abs().max()
    plain_err = (plain[1::2] - inversion.latents).abs().max()
    assert added_err < 5e-3 and added_err < 0.01 * plain_err
    assert torch.equal(added[0::2], plain[0::2])  # the source branch is unchanged


def test_reconstruct_task_reproduces_the_vae_reconstruction(tiny_model):
    batch = make_batch(2)
    method = METHODS.get("direct")(tiny_model, method_config("direct"))
    inversion = method.invert(batch)
    rebuilt = method.reconstruct(batch, inversion)
    torch.testing.assert_close(rebuilt, inversion.latents, atol=1e-5, rtol=1e-5)
    pixels = tiny_model.decode(rebuilt).astype(int) - tiny_model.decode(inversion.latents)
    assert abs(pixels).max() <= 1
    ddim = METHODS.get("ddim")(tiny_model, method_config("ddim"))
    assert (ddim.reconstruct(batch, inversion) - inversion.latents).abs().max() > 1e-2
