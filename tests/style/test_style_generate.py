"""style generate: mu = 0, sigma = 1 is the baseline bit for bit, seeds fix the images, a rerun
resumes, and records carry seconds per image."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from piebench.config_schema import ConfigError
from piebench.style.config import run_dir
from piebench.style.finetune import finetune_dir, run_finetune
from piebench.style.generate import made_records, plan, run_generate, variant_sources
from piebench.style.noise import NOISE_FILE, StyleNoise
from piebench.style.prompts import read_prompts
from tests.style.conftest import lock_held


def test_standard_noise_is_torch_randn_of_each_seed():
    seeds = [5, 1234, 7]
    expected = torch.stack([torch.randn((4, 8, 8), generator=torch.manual_seed(s)) for s in seeds])
    drawn = StyleNoise.standard((4, 8, 8)).sample(seeds)
    assert torch.equal(drawn, expected)


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_unit_style_noise_reproduces_the_baseline_images(make_cfg, tiny_model):
    cfg = make_cfg("style.models=[baseline,style]")
    run_dir(cfg).mkdir(parents=True)
    StyleNoise.standard((4, 8, 8)).save(run_dir(cfg) / NOISE_FILE)
    out = run_generate(cfg, tiny_model)
    for g in ("g1", "g4"):
        for i in range(4):
            base, style = (pixels(out / m / g / f"{i:05d}.png") for m in ("baseline", "style"))
            assert np.array_equal(base, style)
    assert not np.array_equal(
        pixels(out / "baseline/g1/00000.png"), pixels(out / "baseline/g4/00000.png")
    )
    assert not np.array_equal(
        pixels(out / "baseline/g1/00000.png"), pixels(out / "baseline/g1/00001.png")
    )


def test_same_seeds_same_images_and_a_rerun_resumes(make_cfg, tiny_model, tmp_path):
    first = run_generate(make_cfg("style.models=[baseline]", "style.batch_size=3"), tiny_model)
    again = f"output_dir={tmp_path / 'again'}"
    second = run_generate(
        make_cfg("style.models=[baseline]", "style.batch_size=3", again), tiny_model
    )
    files = sorted(p.relative_to(first) for p in first.rglob("*.png"))
    assert len(files) == 8  # 2 guidance weights x 2 prompts x 2 images
    for name in files:
        assert np.array_equal(pixels(first / name), pixels(second / name))
    records = [json.loads(line) for line in (first / "records.jsonl").read_text().splitlines()]
    assert len(records) == 8 and all(r["seconds"] > 0 for r in records)
    assert [r["prompt"] for r in records[:4]] == ["a cat on a chair"] * 2 + [
        "a house by a lake"
    ] * 2
    kept = pixels(first / "baseline/g4/00002.png")
    (first / "baseline/g4/00002.png").unlink()
    run_generate(make_cfg("style.models=[baseline]"), tiny_model)
    lines = (first / "records.jsonl").read_text().splitlines()
    assert len(lines) == 9 and json.loads(lines[-1])["id"] == "baseline/g4/00002"
    # remade alone instead of in a batch of 3: batch-dependent float rounding, at most 1 level
    remade = pixels(first / "baseline/g4/00002.png").astype(int)
    assert np.abs(remade - kept.astype(int)).max() <= 1
    other_seed = make_cfg("style.models=[baseline]", "seed=99")
    run_generate(other_seed, tiny_model)
    assert len((first / "records.jsonl").read_text().splitlines()) == 17  # all 8 made again


def test_style_model_needs_a_fit_and_finetuned_a_finetune(make_cfg, tiny_model):
    """Checked before the first image: the baseline images planned first are not made either."""
    cfg = make_cfg("style.models=[baseline,style]")
    with pytest.raises(ConfigError, match="style fit"):
        run_generate(cfg, tiny_model)
    assert not list(run_dir(cfg).rglob("*.png"))
    with pytest.raises(ConfigError, match="style finetune"):
        cfg = make_cfg("style.models=[baseline,finetuned]")
        run_dir(cfg).mkdir(parents=True, exist_ok=True)
        StyleNoise.standard((4, 8, 8)).save(run_dir(cfg) / NOISE_FILE)
        run_generate(cfg, tiny_model)
    assert not list(run_dir(cfg).rglob("*.png"))


def records_of(out) -> list[dict]:
    return [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]


def test_images_of_an_older_fit_or_finetune_are_made_again(make_cfg, tiny_model):
    """A rerun after ``style fit`` / ``finetune`` ran again remakes that model's images (the
    baseline, whose inputs did not change, is kept); each record names its inputs' digest."""
    cfg = make_cfg("style.models=[baseline,style,finetuned]", "style.guidance=[1]")
    run_dir(cfg).mkdir(parents=True)
    StyleNoise.standard((4, 8, 8)).save(run_dir(cfg) / NOISE_FILE)
    tuned = finetune_dir(cfg) / "unet"
    tiny_model.unet.save_pretrained(tuned)
    out = run_generate(cfg, tiny_model)
    assert len(records_of(out)) == 12 and len({r["source"] for r in records_of(out)}) == 3
    run_generate(cfg, tiny_model)
    assert len(records_of(out)) == 12  # nothing changed: every image kept

    StyleNoise(torch.full((4, 8, 8), 0.5), torch.full((4, 8, 8), 0.8)).save(
        run_dir(cfg) / NOISE_FILE
    )
    run_generate(cfg, tiny_model)
    remade = records_of(out)[12:]
    assert [r["model"] for r in remade] == ["style"] * 4 + ["finetuned"] * 4
    sources = json.loads((out / "generate.json").read_text())["sources"]
    assert sources["baseline"]["noise_sha256"] is None
    assert sources["style"]["digest"] == remade[0]["source"]

    torch.manual_seed(1)
    type(tiny_model.unet).from_config(tiny_model.unet.config).save_pretrained(tuned)
    run_generate(cfg, tiny_model)
    assert [r["model"] for r in records_of(out)[20:]] == ["finetuned"] * 4


def test_a_record_line_cut_short_by_a_kill_is_ended_before_the_next(make_cfg, tiny_model):
    cfg = make_cfg("style.models=[baseline]", "style.guidance=[1]")
    out = run_generate(cfg, tiny_model)
    text = (out / "records.jsonl").read_text()
    (out / "records.jsonl").write_text(text[:-40])  # the last image's line cut short
    run_generate(cfg, tiny_model)
    lines = (out / "records.jsonl").read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[-1])["id"] == "baseline/g1/00003"
    items = plan(cfg, read_prompts(cfg.style.prompts), variant_sources(cfg))
    assert [r["id"] for r in made_records(out, items)] == [i.id for i in items]


def test_a_second_generate_into_a_busy_run_stops(make_cfg, tiny_model):
    """Two ``style generate`` of one run would make the same images side by side."""
    cfg = make_cfg("style.models=[baseline]", "style.guidance=[1]")
    out = run_dir(cfg) / "generate"
    out.mkdir(parents=True)
    with (
        lock_held(out / ".lock"),
        pytest.raises(ConfigError, match="another `style generate` is writing"),
    ):
        run_generate(cfg, tiny_model)
    assert not (out / "records.jsonl").exists()
    assert len(records_of(run_generate(cfg, tiny_model))) == 4


def test_a_step_that_cannot_start_leaves_no_folder(make_cfg, tiny_model):
    """A missing ``style fit`` is named before any run folder (or lock file) is made."""
    for step, cfg in (
        (run_generate, make_cfg("style.name=nofit")),
        (run_finetune, make_cfg("style.name=nofit", "style.steps=1")),
    ):
        with pytest.raises(ConfigError, match="style fit"):
            step(cfg, tiny_model)
        assert not run_dir(cfg).exists()
