"""Blended Latent Diffusion on the tiny model: the blend, the draws, batching and the options."""

from __future__ import annotations

from typing import ClassVar

import torch

from piebench.methods import METHODS
from piebench.methods import bld as bld_module
from piebench.methods.bld_parts import dilated, resized_masks, shrinking_masks
from piebench.sampler.blend import BackgroundBlend
from tests.conftest import make_batch, method_config
from tests.metrics.tiny_networks import save_tiny_clip


def build(model, steps=10, **overrides):
    return METHODS.get("bld")(model, method_config("bld", steps=steps, **overrides))


def run(method, batch):
    return method.edit(batch, method.invert(batch))


class RecordingBlend(BackgroundBlend):
    """The blend hook, recording each step's input latent, mask and latents around the blend."""

    calls: ClassVar[list[dict]] = []

    def step_start(self, i, t, latents):
        RecordingBlend.calls.append({"i": i, "t": t, "start": latents.clone()})
        return latents

    def step_end(self, i, t, latents):
        blended = super().step_end(i, t, latents)
        RecordingBlend.calls[-1].update(before=latents.clone(), after=blended, mask=self.masks(i))
        return blended


def test_each_step_blends_the_freshly_noised_source_outside_the_mask(tiny_model, monkeypatch):
    monkeypatch.setattr(bld_module, "BackgroundBlend", RecordingBlend)
    RecordingBlend.calls = []
    method = build(tiny_model, steps=50)
    batch = make_batch(1)
    source = method.invert(batch).latents
    run(method, batch)
    calls = RecordingBlend.calls
    # the reference's grid: 980..0, the first int(50 x 0.25) = 12 steps skipped
    assert [c["t"] for c in calls] == list(range(740, -1, -20))
    replay = torch.Generator().manual_seed(1234)
    start = torch.randn((1, 4, 8, 8), generator=replay)
    torch.testing.assert_close(calls[0]["start"], start, rtol=0, atol=0)  # pure noise
    for call in calls:
        noise = torch.randn((1, 4, 8, 8), generator=replay)
        expected = method.schedule.add_noise(source, noise, call["t"])
        outside, inside = call["mask"] == 0, call["mask"] == 1
        assert outside.any() and inside.any()
        assert torch.equal(
            call["after"][outside.expand_as(expected)], expected[outside.expand_as(expected)]
        )
        assert torch.equal(
            call["after"][inside.expand_as(expected)], call["before"][inside.expand_as(expected)]
        )


def test_start_from_source_noises_the_source_to_the_first_timestep(tiny_model, monkeypatch):
    monkeypatch.setattr(bld_module, "BackgroundBlend", RecordingBlend)
    RecordingBlend.calls = []
    method = build(tiny_model, start_from_source=True)
    batch = make_batch(1)
    source = method.invert(batch).latents
    run(method, batch)
    first = RecordingBlend.calls[0]
    noise = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(1234))
    expected = method.schedule.add_noise(source, noise, first["t"])
    assert first["t"] == 700  # 10 steps: grid 900..0, start index 2
    torch.testing.assert_close(first["start"], expected, rtol=0, atol=0)


def test_batched_run_equals_single_runs_and_reruns_are_identical(tiny_model):
    method = build(tiny_model)
    batch = make_batch(2)
    together = method.decode(run(method, batch), batch)
    again = method.decode(run(method, make_batch(2)), batch)
    assert (together == again).all()
    for i in range(2):
        single = make_batch(2)
        for name in ("ids", "source_prompts", "target_prompts", "blended_words", "generators"):
            setattr(single, name, getattr(single, name)[i : i + 1])
        single.images, single.masks, single.notes = (
            single.images[i : i + 1],
            single.masks[i : i + 1],
            [{}],
        )
        alone = method.decode(run(method, single), single)[0]
        assert abs(alone.astype(int) - together[i].astype(int)).max() <= 1


def test_masks_are_sampled_at_pil_nearest_cell_centres():
    mask = torch.zeros(1, 512, 512, dtype=torch.uint8)
    mask[0, 4::8, 4::8] = 1  # exactly the pixels PIL's NEAREST reads at 64 x 64
    assert resized_masks(mask, (64, 64)).all()
    mask = torch.ones(1, 512, 512, dtype=torch.uint8)
    mask[0, 0::8, 0::8] = 0  # what F.interpolate(nearest) would read instead
    assert resized_masks(mask, (64, 64)).all()


def test_mask_shrink_goes_from_the_widest_dilation_to_the_mask_in_k_plus_one_stages():
    mask = torch.zeros(1, 1, 16, 16, dtype=torch.uint8)
    mask[0, 0, 8, 8] = 1
    sequence = shrinking_masks(mask, stages=2, steps=9)
    sizes = [int(m.sum()) for m in sequence]
    assert sizes == [25] * 3 + [9] * 3 + [1] * 3  # 5x5, then 3x3, then the mask
    assert torch.equal(sequence[0], dilated(mask, 5)) and torch.equal(sequence[-1], mask)
    assert shrinking_masks(mask, stages=0, steps=4) == [mask] * 4


def test_mask_shrink_reaches_the_blend_hook_in_order(tiny_model, monkeypatch):
    monkeypatch.setattr(bld_module, "BackgroundBlend", RecordingBlend)
    RecordingBlend.calls = []
    method = build(tiny_model, mask_shrink=1)  # 8 blended steps: 4 with 3x3 dilation, 4 plain
    batch = make_batch(1)
    run(method, batch)
    latent = resized_masks(batch.masks, (8, 8)).float()
    used = [c["mask"].float() for c in RecordingBlend.calls]
    assert all(torch.equal(m, dilated(latent, 3)) for m in used[:4])
    assert all(torch.equal(m, latent) for m in used[4:])


def test_the_kept_candidate_has_the_highest_clip_score(tiny_model, tmp_path):
    clip = save_tiny_clip(tmp_path / "clip")
    method = build(tiny_model, num_candidates=3, clip_model=str(clip))
    batch = make_batch(2)
    chosen = run(method, batch)
    for i, note in enumerate(batch.notes):
        scores = note["candidate_scores"]
        assert len(scores) == 3 and note["candidate"] == max(range(3), key=scores.__getitem__)
    # the kept latents are that candidate's own generation (candidate j: seed 1234 + j)
    plain = build(tiny_model)
    for i, note in enumerate(batch.notes):
        single = make_batch(2)
        seed = 1234 + note["candidate"]
        single.generators = [torch.Generator().manual_seed(seed) for _ in range(2)]
        alone = run(plain, single)[i]
        torch.testing.assert_close(alone, chosen[i], atol=1e-5, rtol=1e-5)


def test_decoder_finetuning_restores_the_background_and_leaves_the_shared_decoder(tiny_model):
    batch = make_batch(1)
    before = {k: v.clone() for k, v in tiny_model.vae.state_dict().items()}
    plain = build(tiny_model)
    tuned = build(tiny_model, decoder_finetune_steps=20, decoder_lr=1e-3)
    latents = run(plain, batch)
    outside = (1 - resized_masks(batch.masks, (64, 64))).bool().squeeze(1)
    source = batch.images[0].permute(1, 2, 0).numpy().astype(float)

    def background_error(image):
        return ((image[0].astype(float) - source) ** 2)[outside[0].numpy()].mean()

    assert background_error(tuned.decode(latents, batch)) < 0.9 * background_error(
        plain.decode(latents, batch)
    )
    after = tiny_model.vae.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
