"""NTI and NPI invariants on the tiny model (CPU, few steps, 64 px); EDICT: test_edict.py."""

from contextlib import contextmanager, nullcontext

import torch

from piebench.methods import METHODS, Inversion
from piebench.methods import nti as nti_module
from piebench.methods.nti import NullTextSettings, optimise_null
from piebench.sampler.hooks import StepHook
from piebench.sampler.loop import denoise
from tests.conftest import make_batch, method_config


def build(model, name, **overrides):
    return METHODS.get(name)(model, method_config(name, **overrides))


class Record(StepHook):
    """Keeps the latents after every step."""

    def __init__(self):
        self.latents = []

    def step_end(self, i, t, latents):
        self.latents.append(latents)
        return latents


def step_errors(model, method, batch, inversion, uncond):
    """Per-step MSE of the guided reconstruction against the inversion trajectory, (S,)."""
    record = Record()
    cond = model.encode_prompts(batch.source_prompts)
    denoise(model, method.schedule, inversion.trajectory[-1], cond, uncond, 7.5, [record])
    steps = method.schedule.num_steps
    return torch.stack(
        [
            (z - inversion.trajectory[steps - i - 1]).pow(2).mean()
            for i, z in enumerate(record.latents)
        ]
    )


def test_nti_lands_on_the_trajectory_with_per_step_embeddings(tiny_model):
    batch = make_batch(2)
    nti = build(tiny_model, "nti")
    inversion = nti.invert(batch)
    uncond = inversion.uncond
    steps = nti.schedule.num_steps
    assert uncond.shape == (steps, 2, 77, tiny_model.text_encoder.config.hidden_size)
    # the embedding carries over between steps; it changes wherever that step's error was
    # above the early-stop threshold before optimising (a step already below it may stop at its
    # first Adam step, or keep the previous embedding): the rule, not "every step changes"
    changed = [bool((uncond[i] - uncond[i + 1]).abs().max() > 0) for i in range(steps - 1)]
    assert any(changed)
    nti_err = step_errors(tiny_model, nti, batch, inversion, uncond)
    null = tiny_model.encode_prompts([""]).expand(2, -1, -1)
    ddim_err = step_errors(tiny_model, nti, batch, inversion, null)
    threshold = torch.tensor([NullTextSettings().threshold_at(i) for i in range(steps)])
    assert ((nti_err < threshold) | (nti_err < ddim_err)).all()
    assert nti_err.sum() < 0.5 * ddim_err.sum()


def test_nti_single_branch_keeps_the_target_null_embedding(tiny_model):
    batch = make_batch(2)
    nti = build(tiny_model, "nti", single_branch=True, inner_steps=1)
    inversion = nti.invert(batch)
    uncond = nti.edit_uncond(batch, inversion)
    null = tiny_model.encode_prompts([""])
    assert torch.equal(uncond[:, 1::2], null.expand_as(uncond[:, 1::2]))
    assert torch.equal(uncond[:, 0::2], inversion.uncond)
    both = build(tiny_model, "nti", inner_steps=1).edit_uncond(batch, inversion)
    assert torch.equal(both[:, 1::2], inversion.uncond)


def test_batched_nti_equals_single_sample_runs(tiny_model):
    batch = make_batch(3)
    nti = build(tiny_model, "nti")
    inversion = nti.invert(batch)
    cond = tiny_model.encode_prompts(batch.source_prompts)
    null = tiny_model.encode_prompts([""])
    together = nti.edit_pairs(batch, inversion)
    for i in range(3):
        one = make_batch(3)
        for field in ("ids", "source_prompts", "target_prompts", "blended_words", "generators"):
            setattr(one, field, getattr(batch, field)[i : i + 1])
        one.images = batch.images[i : i + 1]
        trajectory = inversion.trajectory[:, i : i + 1]
        alone = optimise_null(tiny_model, nti.schedule, trajectory, cond[i : i + 1], null, 7.5)
        # the UNet's rows differ by ~1e-6 between batch sizes under autograd, and Adam turns that
        # into ~1e-3 on near-zero-gradient elements: images agree to one grey level
        torch.testing.assert_close(alone, inversion.uncond[:, i : i + 1], atol=5e-3, rtol=0)
        same = Inversion(inversion.latents[i : i + 1], trajectory, alone)
        edited = nti.edit_pairs(one, same)
        torch.testing.assert_close(edited, together[2 * i : 2 * i + 2], atol=2e-4, rtol=0)
        pixels = tiny_model.decode(edited[1:]).astype(int) - tiny_model.decode(
            together[2 * i + 1 : 2 * i + 2]
        )
        assert abs(pixels).max() <= 1


def test_nti_early_stop_freezes_a_finished_sample(tiny_model):
    """A sample whose loss is already below the threshold keeps its embedding after its first step."""
    batch = make_batch(2)
    nti = build(tiny_model, "nti")
    trajectory = nti.invert(batch).trajectory
    cond = tiny_model.encode_prompts(batch.source_prompts)
    null = tiny_model.encode_prompts([""])
    one_step = NullTextSettings(inner_steps=1)
    first = optimise_null(tiny_model, nti.schedule, trajectory, cond, null, 7.5, one_step)
    stop_all = NullTextSettings(inner_steps=10, early_stop=1e9)  # every sample stops after step 1
    frozen = optimise_null(tiny_model, nti.schedule, trajectory, cond, null, 7.5, stop_all)
    torch.testing.assert_close(frozen, first, atol=0, rtol=0)
    assert not torch.equal(
        optimise_null(tiny_model, nti.schedule, trajectory, cond, null, 7.5), first
    )


def test_nti_reuses_the_first_attention_without_changing_the_embeddings(tiny_model, monkeypatch):
    """Every UNet call of a step after the first (conditional, Adam steps, final) reuses the first
    self-attention; the embeddings are bit-identical to recomputing it."""
    batch = make_batch(2)
    nti = build(tiny_model, "nti")
    trajectory = nti.invert(batch).trajectory
    cond = tiny_model.encode_prompts(batch.source_prompts)
    null = tiny_model.encode_prompts([""])
    settings = NullTextSettings(inner_steps=3, early_stop=-1.0)  # never stops: 5 calls per step
    memos = []
    memoise = nti_module.memoized_first_attention

    @contextmanager
    def spy(unet):
        with memoise(unet) as memo:
            memos.append(memo)
            yield memo

    monkeypatch.setattr(nti_module, "memoized_first_attention", spy)
    memoised = optimise_null(tiny_model, nti.schedule, trajectory, cond, null, 7.5, settings)
    assert memos[0].hits == 4 * nti.schedule.num_steps
    monkeypatch.setattr(nti_module, "memoized_first_attention", lambda unet: nullcontext())
    plain = optimise_null(tiny_model, nti.schedule, trajectory, cond, null, 7.5, settings)
    torch.testing.assert_close(memoised, plain, atol=0, rtol=0)


def test_npi_uses_the_source_embedding_and_beats_ddim_with_cfg(tiny_model, monkeypatch):
    from piebench.methods import p2p_edit

    batch = make_batch(2)
    npi = build(tiny_model, "npi")
    inversion = npi.invert(batch)
    seen = []
    real = p2p_edit.denoise
    monkeypatch.setattr(p2p_edit, "denoise", lambda *a, **k: seen.append(a[4]) or real(*a, **k))
    npi.edit_pairs(batch, inversion)
    source = tiny_model.encode_prompts(batch.source_prompts).repeat_interleave(2, dim=0)
    assert all(torch.equal(step, source) for step in seen[0])
    npi_rec = npi.reconstruct(batch, inversion)
    ddim = build(tiny_model, "ddim")
    ddim_rec = ddim.reconstruct(batch, ddim.invert(batch))
    assert (npi_rec - inversion.latents).pow(2).mean() < (ddim_rec - inversion.latents).pow(
        2
    ).mean()


def test_npi_interp_slerps_towards_the_null_embedding(tiny_model):
    batch = make_batch(1)
    source = tiny_model.encode_prompts(batch.source_prompts)
    null = tiny_model.encode_prompts([""])
    assert torch.allclose(
        build(tiny_model, "npi", npi_interp=1e-6).invert(batch).uncond[0], source, atol=1e-4
    )
    assert torch.allclose(
        build(tiny_model, "npi", npi_interp=1.0).invert(batch).uncond[0], null, atol=1e-4
    )
    # in between it is spherical, not linear: slerp(v) = (sin((1-v) w) a + sin(v w) b) / sin(w)
    a, b = source.flatten().double(), null.flatten().double()
    omega = torch.acos((a / a.norm()) @ (b / b.norm()))
    expected = (torch.sin(0.5 * omega) * a + torch.sin(0.5 * omega) * b) / torch.sin(omega)
    half = build(tiny_model, "npi", npi_interp=0.5).invert(batch).uncond[0].flatten().double()
    torch.testing.assert_close(half, expected, atol=1e-4, rtol=1e-4)
    assert (half - 0.5 * (a + b)).abs().max() > 1e-3  # linear interpolation would fail here
