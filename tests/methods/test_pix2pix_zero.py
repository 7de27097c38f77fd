"""pix2pix-zero on the tiny model: noise regularisation, the inversion grid, the edit direction,
cross-attention guidance, per-sample batching, and runs through the runner into the paper table."""

from __future__ import annotations

import random

import pandas as pd
import pytest
import torch
from diffusers import DDIMScheduler

import piebench.methods.pix2pix_zero as p2pz
from piebench.__main__ import main
from piebench.data.pie_bench import SAMPLE_ROOT
from piebench.methods import METHODS
from piebench.runner import Runner
from piebench.sampler import regularized_inversion
from piebench.sampler.noise_regularization import (
    RegularizationSettings,
    auto_correlation_loss,
    draw_shifts,
    kl_divergence,
    regularize_noise,
)
from tests.conftest import compose_config, make_batch, method_config
from tests.methods.test_ddim_direct import single
from tests.metrics.tiny_networks import tiny_metrics_cfg
from tests.scoring.test_cli import overrides as scoring_overrides

OFF = RegularizationSettings(lambda_ac=0.0, lambda_kl=0.0)


def method(model, steps=4, **cfg):
    """pix2pix-zero on ``model``, captioned offline with the source prompt unless ``cfg`` says
    otherwise (the default, BLIP, has no weights here)."""
    cfg = {"caption": "source_prompt", **cfg}
    return METHODS.get("pix2pix_zero")(model, method_config("pix2pix_zero", steps, **cfg))


def correlated_noise(seed: int = 0) -> torch.Tensor:
    """(2,4,32,32) noise with strong spatial correlation, a mean and the wrong variance."""
    g = torch.Generator().manual_seed(seed)
    white = torch.randn(2, 4, 32, 32, generator=g)
    smooth = torch.nn.functional.avg_pool2d(white, 5, stride=1, padding=2)
    return 1.5 * smooth / smooth.std() + 0.3


def reference_ac_loss(eps: torch.Tensor, shifts: list[int]) -> torch.Tensor:
    """The paper's L_ac of one (C,H,W) tensor, one channel at a time with torch.roll."""
    loss, k = torch.zeros(()), 0
    for channel in eps:
        noise = channel[None, None]
        while True:
            shift = shifts[k]
            k += 1
            loss = loss + (noise * torch.roll(noise, shift, 2)).mean() ** 2
            loss = loss + (noise * torch.roll(noise, shift, 3)).mean() ** 2
            if noise.shape[2] <= 8:
                break
            noise = torch.nn.functional.avg_pool2d(noise, 2)
    return loss


def test_losses_match_the_per_channel_formulas_per_sample():
    eps = correlated_noise()
    rngs = [random.Random(1), random.Random(2)]
    shifts = draw_shifts(rngs, 4, 32)
    assert shifts.shape == (3, 2, 4)  # levels 32, 16, 8
    ours = auto_correlation_loss(eps, shifts)
    for b in range(2):
        order = shifts[:, b].T.flatten().tolist()  # channel -> level, as drawn
        torch.testing.assert_close(ours[b], reference_ac_loss(eps[b], order), rtol=1e-5, atol=0)
        flat = eps[b].flatten()
        expected = flat.var() + flat.mean() ** 2 - 1 - torch.log(flat.var() + 1e-7)
        torch.testing.assert_close(kl_divergence(eps)[b], expected)


def test_shifts_are_drawn_per_sample_in_the_reference_order():
    shifts = draw_shifts([random.Random(1234), random.Random(1234)], 4, 64)
    rng = random.Random(1234)
    expected = [[rng.randrange(size // 2) for size in (64, 32, 16, 8)] for _ in range(4)]
    assert shifts[:, 0].T.tolist() == expected and torch.equal(shifts[:, 0], shifts[:, 1])
    no_zero = draw_shifts([random.Random(s) for s in range(50)], 4, 8, allow_zero=False)
    assert no_zero.min() >= 1 and no_zero.max() <= 3


def test_regularisation_lowers_auto_correlation_and_kl():
    eps = correlated_noise()
    regularized = regularize_noise(
        eps, [random.Random(0), random.Random(1)], RegularizationSettings()
    )
    probe = draw_shifts([random.Random(7), random.Random(8)], 4, 32)
    assert (
        auto_correlation_loss(regularized, probe) < 0.5 * auto_correlation_loss(eps, probe)
    ).all()
    assert (kl_divergence(regularized) < 0.5 * kl_divergence(eps)).all()
    assert torch.equal(regularize_noise(eps, [random.Random(0)] * 2, OFF), eps)


def standardized(eps: torch.Tensor) -> torch.Tensor:
    return eps / eps.flatten(1).std(1)[:, None, None, None]


def test_inversion_regularises_the_noise_of_every_step(tiny_model, monkeypatch):
    """The noise each inversion step uses is less auto-correlated and closer to N(0, 1) than the
    UNet's prediction. Auto-correlation is measured scale-free (unit-variance noise, shifts >= 1):
    the tiny model predicts eps with std ~0.3, which the KL steps raise to ~0.75 (measured), so the
    raw L_ac, a product of two noise values, grows with the scale."""
    pairs = []

    def recording(eps, rngs, settings):
        out = regularize_noise(eps, rngs, settings)
        pairs.append((eps, out))
        return out

    monkeypatch.setattr(regularized_inversion, "regularize_noise", recording)
    method(tiny_model).invert(make_batch(2))
    assert len(pairs) == 4
    for raw, used in pairs:
        probe = draw_shifts([random.Random(7), random.Random(8)], 4, raw.shape[-2], False)
        before = auto_correlation_loss(standardized(raw), probe)
        assert (auto_correlation_loss(standardized(used), probe) < 0.5 * before).all()
        assert (kl_divergence(used) < 0.5 * kl_divergence(raw)).all()


class ZeroNoise:
    """A model predicting eps = 0: DDIM inversion then only rescales x by sqrt(a_next / a)."""

    def predict(self, latents, t, context):
        return torch.zeros_like(latents)


def test_inversion_grid_runs_from_alpha_bar_0_to_alpha_bar_999(tiny_model):
    schedule = method(tiny_model, steps=50).schedule
    x0 = torch.ones(1, 4, 2, 2)
    trajectory = regularized_inversion.regularized_invert(
        ZeroNoise(), schedule, x0, None, [random.Random(0)], OFF
    )
    ac = schedule.alphas_cumprod
    expected = [(ac[min(20 * k, 999)] / ac[0]).sqrt() for k in range(51)]
    torch.testing.assert_close(trajectory[:, 0, 0, 0, 0], torch.stack(expected))


def test_zero_lambdas_give_plain_ddim_inversion_on_the_same_grid(tiny_model):
    batch = make_batch(2)
    pz = method(tiny_model, lambda_ac=0.0, lambda_kl=0.0)
    inverted = pz.invert(batch).trajectory
    ac = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
    ).alphas_cumprod
    cond = tiny_model.encode_prompts(batch.source_prompts)
    x = pz.encode(make_batch(2))
    for k, t in enumerate([1, 251, 501, 751]):  # 4 steps: ratio 250
        with torch.no_grad():
            eps = tiny_model.unet(x, t, encoder_hidden_states=cond).sample
        a, a_next = ac[t - 1], ac[min(t + 250, 1000) - 1]
        x = a_next.sqrt() * (x - (1 - a).sqrt() * eps) / a.sqrt() + (1 - a_next).sqrt() * eps
        torch.testing.assert_close(inverted[k + 1], x, atol=1e-5, rtol=1e-5)


def test_identical_sentences_give_zero_direction_and_the_edit_reproduces_pass_1(tiny_model):
    batch = make_batch(2, same_prompts=True)
    pz = method(tiny_model)
    assert torch.equal(pz.directions(batch), torch.zeros_like(pz.directions(batch)))
    inversion = pz.invert(batch)
    edited, reconstructed = pz.edit(batch, inversion), pz.reconstruct(batch, inversion)
    torch.testing.assert_close(edited, reconstructed, atol=1e-4, rtol=0)
    other = pz.edit(make_batch(2), pz.invert(make_batch(2)))
    assert (other - reconstructed).abs().max() > 1e-2


def guided_distances(model, monkeypatch, xa_guidance: float) -> float:
    """Sum over edit steps of the attention distance of the input before its SGD step."""
    found = []

    def recording(maps, reference, samples):
        distance = p2pz_distance(maps, reference, samples)
        found.append(distance.detach().sum().item())
        return distance

    p2pz_distance = p2pz.attention_distance
    monkeypatch.setattr(p2pz, "attention_distance", recording)
    batch = make_batch(2)
    pz = method(model, steps=6, xa_guidance=xa_guidance)
    pz.edit(batch, pz.invert(batch))
    monkeypatch.setattr(p2pz, "attention_distance", p2pz_distance)
    return sum(found[1:])  # step 0 starts from the same x_T either way


def test_cross_attention_guidance_lowers_the_distance_to_the_reference_maps(
    tiny_model, monkeypatch
):
    """On the tiny random model the reference's step 0.1 lowers the summed distance by ~0.1 %
    and a step of 30 by ~20 % (measured: 0.624 -> 0.624 -> 0.492)."""
    unguided = guided_distances(tiny_model, monkeypatch, 0.0)
    assert guided_distances(tiny_model, monkeypatch, 0.1) < unguided
    assert guided_distances(tiny_model, monkeypatch, 30.0) < 0.9 * unguided


@pytest.mark.parametrize("inversion", ["ddim", "direct"])
def test_a_batch_of_two_gives_the_images_of_two_single_runs(tiny_model, inversion):
    batch = make_batch(2)
    pz = method(tiny_model, inversion=inversion)
    together = pz.edit(batch, pz.invert(batch))
    for i in range(2):
        one = single(make_batch(2), i)  # fresh generators: the batch run has drawn from its own
        alone = pz.edit(one, pz.invert(one))
        torch.testing.assert_close(together[i : i + 1], alone, atol=1e-4, rtol=1e-4)


def test_sentence_banks_give_one_direction_for_every_sample(tiny_model, tmp_path):
    (tmp_path / "cat.txt").write_text("a cat\n\na photo of a cat\n")
    (tmp_path / "dog.txt").write_text("a dog\n")
    pz = method(
        tiny_model,
        **{
            "sentences.source": str(tmp_path / "cat.txt"),
            "sentences.target": str(tmp_path / "dog.txt"),
        },
    )
    embed = tiny_model.encode_prompts
    expected = embed(["a dog"])[0] - (embed(["a cat"])[0] + embed(["a photo of a cat"])[0]) / 2
    directions = pz.directions(make_batch(3))
    torch.testing.assert_close(directions, expected.expand(3, -1, -1), atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="method.sentences.target"):
        method(tiny_model, **{"sentences.source": str(tmp_path / "cat.txt")})


def test_the_default_caption_is_blip_as_the_reference_makes_it(tiny_model, tmp_path):
    cfg = method_config("pix2pix_zero", caption_model=str(tmp_path / "no-blip"))
    assert cfg.caption == "blip"
    with pytest.raises(RuntimeError, match="method.caption=source_prompt"):
        METHODS.get("pix2pix_zero")(tiny_model, cfg)


def test_blip_caption_without_weights_stops_with_the_key_named(tiny_model, tmp_path):
    with pytest.raises(RuntimeError, match="method.caption_model"):
        method(tiny_model, caption="blip", caption_model=str(tmp_path / "no-blip"))


def test_clip_sample_follows_the_checkpoint_scheduler_config(tiny_model):
    assert method(tiny_model).edit_schedule.config.clip_sample  # no config: DDIM's default
    assert not method(tiny_model, clip_sample=False).edit_schedule.config.clip_sample


def test_both_inversions_run_score_and_sit_beside_their_paper_rows(tmp_path, capsys):
    runs = []
    for inversion, run_name in (("ddim", "pix2pix_zero"), ("direct", "pix2pix_zero_direct")):
        cfg = compose_config(
            "method=pix2pix_zero",
            "method.caption=source_prompt",
            f"method.inversion={inversion}",
            f"run_name={run_name}",
            "model=tiny",
            "method.steps=2",
            "data.limit=2",
            "batch_size=2",
            "progress=false",
            "image_format=png",
            f"output_dir={tmp_path}",
        )
        summary = Runner(cfg).run()
        assert (summary.ok, summary.failed) == (2, 0), summary.failures
        runs.append(summary.run_dir)
    metrics = tiny_metrics_cfg(tmp_path / "nets")
    args = [*scoring_overrides(SAMPLE_ROOT, runs, metrics), "metrics.batch_size=2"]
    assert main(["evaluate", *args]) == 0
    scores = pd.concat(pd.read_csv(run / "scores_parity.csv") for run in runs)
    assert set(scores["method"]) == {"ddim+p2p_zero", "direct+p2p_zero"}
    capsys.readouterr()
    assert main(["table", "--format", "csv", "compare=paper", *args]) == 0
    compared = capsys.readouterr().out.split("Ours vs published Table 1")[1]
    rows = pd.read_csv(pd.io.common.StringIO(compared.split("\n", 1)[1]))
    assert set(rows["paper_row"]) == {"ddim+p2p_zero", "direct+p2p_zero"}
    assert set(rows["kind"]) == {"ours", "paper", "delta", "delta_%"}
