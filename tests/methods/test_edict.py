"""EDICT invariants on the tiny model (CPU, few steps, 64 px): exact inversion, per-sample posterior
noise, reference precision on copies only, rounding decode, the runner's use of it."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from piebench.methods import METHODS
from piebench.methods.edict import EDICT
from piebench.runner import Runner
from tests.conftest import compose_config, make_batch, method_config


def build(model, **overrides):
    """EDICT on ``model``; "direct forward" (``p2p=False``) unless ``overrides`` say otherwise."""
    overrides = {"p2p": False, **overrides}
    return METHODS.get("edict")(model, method_config("edict", **overrides))


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-10), ("float32", 1e-4)])
def test_edict_inverts_exactly_and_ddim_does_not(tiny_model, dtype, tolerance):
    batch = make_batch(2)
    edict = build(tiny_model, dtype=dtype)
    inversion = edict.invert(batch)
    z0 = inversion.latents
    assert z0.dtype == getattr(torch, dtype)
    assert inversion.trajectory.shape[0] == len(edict.timesteps) + 1
    edict_err = ((edict.reconstruct(batch, inversion) - z0).norm() / z0.norm()).item()
    ddim = METHODS.get("ddim")(tiny_model, method_config("ddim"))
    ddim_inversion = ddim.invert(batch)
    ddim_z0 = ddim_inversion.latents
    ddim_err = ((ddim.reconstruct(batch, ddim_inversion) - ddim_z0).norm() / ddim_z0.norm()).item()
    assert edict_err < tolerance and ddim_err > 1e-3


def test_edict_edits_change_the_image_and_p2p_differs_from_direct_forward(tiny_model):
    batch = make_batch(2)
    direct_forward, p2p = build(tiny_model), build(tiny_model, p2p=True)
    inversion = direct_forward.invert(batch)
    source = direct_forward.reconstruct(batch, inversion)
    a, b = direct_forward.edit(batch, inversion), p2p.edit(batch, inversion)
    assert a.dtype == b.dtype == torch.float64 and torch.isfinite(b).all()
    assert (a - source).abs().max() > 1e-3 and (b - a).abs().max() > 1e-6


def test_p2p_with_identical_prompts_is_direct_forward(tiny_model):
    """Source and target prompts equal: the control copies the target's own maps."""
    batch = make_batch(2, same_prompts=True)
    direct_forward, p2p = build(tiny_model), build(tiny_model, p2p=True)
    inversion = direct_forward.invert(batch)
    a, b = direct_forward.edit(batch, inversion), p2p.edit(batch, inversion)
    torch.testing.assert_close(b, a, atol=1e-12, rtol=0)


def test_posterior_noise_is_per_sample_and_independent_of_batch_mates(tiny_model):
    edict = build(tiny_model)
    three = make_batch(3)
    alone = make_batch(3, seed=7)  # other images for the batch mates
    for field in ("ids", "source_prompts", "target_prompts", "blended_words", "generators"):
        setattr(alone, field, getattr(alone, field)[1:2])
    alone.images = three.images[1:2]
    z_three, z_alone = edict.encode(three), edict.encode(alone)
    torch.testing.assert_close(z_alone[0], z_three[1], atol=1e-12, rtol=0)
    mean = edict.net.vae.encode(three.images.double() / 255.0 * 2.0 - 1.0).latent_dist.mean
    assert (z_three - mean * edict.net.scaling_factor).abs().min() > 0  # a sample, not the mean


def test_posterior_noise_seed_is_the_methods_unless_null(tiny_model):
    batch, other_run_seed = make_batch(1), make_batch(1)
    other_run_seed.generators = [torch.Generator().manual_seed(99)]
    fixed = build(tiny_model)
    assert torch.equal(fixed.encode(batch), fixed.encode(other_run_seed))
    run_seeded = build(tiny_model, seed=None)
    assert not torch.equal(run_seeded.encode(batch), run_seeded.encode(other_run_seed))
    assert not torch.equal(run_seeded.encode(make_batch(1)), fixed.encode(batch))


def test_weights_are_rounded_through_fp16_on_copies_only(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.unet.state_dict().items()}
    time_proj = tiny_model.unet.time_proj
    edict = build(tiny_model)
    for part in ("unet", "vae", "text_encoder"):
        shared, copy = getattr(tiny_model, part), getattr(edict.net, part)
        assert copy is not shared
        for (name, w), (_, w64) in zip(shared.state_dict().items(), copy.state_dict().items()):
            if w.is_floating_point():
                assert w.dtype == torch.float32 and w64.dtype == torch.float64, name
                assert torch.equal(w64, w.half().double()), name
    assert all(torch.equal(v, before[k]) for k, v in tiny_model.unet.state_dict().items())
    assert tiny_model.unet.time_proj is time_proj and tiny_model.dtype == torch.float32
    assert type(edict.net.unet.time_proj).__name__ == "Float64Timesteps"
    as_loaded = build(tiny_model, weights_dtype=None)
    w = tiny_model.unet.conv_in.weight
    assert torch.equal(as_loaded.net.unet.conv_in.weight, w.double())


def test_the_precision_copy_computes_in_its_dtype_without_the_models_autocast(tiny_model):
    """``model.autocast=bf16`` is a fast-path switch of the loaded model; EDICT's float32 copy
    computes in float32 all the same: the same edit as without the switch, bit for bit."""
    fast = dataclasses.replace(tiny_model, autocast=torch.bfloat16)
    batch = make_batch(1)
    edits = []
    for model in (tiny_model, fast):
        edict = build(model, dtype="float32")
        assert edict.net.dtype == torch.float32 and edict.net.autocast is None
        edits.append(edict.edit(batch, edict.invert(batch)))
    assert torch.equal(*edits)


def test_float64_timestep_embedding_matches_diffusers_up_to_its_float32(tiny_model):
    t = torch.tensor([0, 20, 780, 999])
    ours = build(tiny_model).net.unet.time_proj(t)
    theirs = tiny_model.unet.time_proj(t)
    assert ours.dtype == torch.float64
    torch.testing.assert_close(ours.float(), theirs, atol=2e-4, rtol=0)


def test_decode_rounds_with_the_float64_vae(tiny_model, monkeypatch):
    """(x / 2 + 0.5).clamp(0, 1) x 255, rounded half to even (the P2P family truncates)."""
    edict = build(tiny_model)
    values = torch.tensor([-1.5, 0.0, 0.002, 0.999, 1.2], dtype=torch.float64)
    received = []

    def fake_decode(z):
        received.append(z)
        return SimpleNamespace(sample=values.view(1, 1, 1, 5).expand(1, 3, 1, 5))

    monkeypatch.setattr(edict.net.vae, "decode", fake_decode)
    latents = torch.randn(1, 4, 1, 1, dtype=torch.float64)
    pixels = edict.decode(latents, make_batch(1))
    torch.testing.assert_close(received[0], latents / edict.net.scaling_factor, atol=0, rtol=0)
    assert pixels.dtype == np.uint8 and pixels[0, 0, :, 0].tolist() == [0, 128, 128, 255, 255]


def test_runner_decodes_with_the_methods_decode(tmp_path, monkeypatch):
    calls = []
    real = EDICT.decode
    monkeypatch.setattr(
        EDICT, "decode", lambda self, z, batch: calls.append(z.dtype) or real(self, z, batch)
    )
    cfg = compose_config(
        "method=edict",
        "model=tiny",
        "method.steps=2",
        "data.limit=1",
        "progress=false",
        "evaluate=false",
        f"output_dir={tmp_path}",
    )
    summary = Runner(cfg).run()
    # the edit, then the default strip's reconstruction panel (z_0)
    assert summary.ok == 1 and calls == [torch.float64, torch.float64]
