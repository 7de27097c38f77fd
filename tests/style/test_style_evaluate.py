"""style evaluate: FID of a set against itself ~0 and larger for a shifted set, KID against
numpy, one table row and one curve point per model and guidance; and the four commands end to
end on the tiny model with tiny CLIP and a random standard FID Inception."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from piebench.__main__ import main
from piebench.config_schema import ConfigError
from piebench.metrics.networks import MetricNetworks
from piebench.style.config import run_dir
from piebench.style.curves import fid_clip_figure
from piebench.style.evaluate import run_evaluate, score_sets
from piebench.style.generate import run_generate
from piebench.style.noise import NOISE_FILE, StyleNoise
from tests.metrics.test_fid import numpy_kid
from tests.metrics.tiny_networks import save_random_fid_inception, save_tiny_clip


class MeanColour(torch.nn.Module):
    """A stand-in feature extractor: per-channel mean and std and 4x4 pooled pixels."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(images, 2).flatten(1)
        return torch.cat([images.mean((2, 3)), images.std((2, 3)), pooled], dim=1)


class FixedClip:
    def score(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        return images.float().mean((1, 2, 3)) / 10


def image_set(folder, name: str, seed: int, shift: int, n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        array = np.clip(rng.integers(0, 200, (16, 16, 3)) + shift, 0, 255).astype(np.uint8)
        file = f"{name}/{i}.png"
        (folder / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(folder / file)
        rows.append({"model": name, "guidance": 1.0, "file": file, "prompt": "p", "seconds": 0.5})
    return pd.DataFrame(rows)


@pytest.fixture()
def stand_in_networks() -> MetricNetworks:
    networks = MetricNetworks({"device": "cpu"})
    networks.__dict__.update(inception=MeanColour(), clip=FixedClip())
    return networks


def test_fid_zero_against_itself_larger_when_shifted_and_kid_is_numpy(tmp_path, stand_in_networks):
    same = image_set(tmp_path, "same", seed=0, shift=0)
    shifted = image_set(tmp_path, "shifted", seed=0, shift=50)
    images = [np.asarray(Image.open(tmp_path / f)) for f in same["file"]]
    real = MeanColour()(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2) / 255).double()
    sets = [("same", 1.0), ("shifted", 1.0)]
    table, per_image = score_sets(
        pd.concat([same, shifted]), sets, tmp_path, real, stand_in_networks, 5, (1, 12)
    )
    by_model = table.set_index("model")
    assert by_model.loc["same", "fid"] == pytest.approx(0.0, abs=1e-6)
    assert by_model.loc["shifted", "fid"] > 0.1  # shift 50/255 on ~18 feature dims: ~0.6
    fake = MeanColour()(
        torch.from_numpy(np.stack([np.asarray(Image.open(tmp_path / f)) for f in shifted["file"]]))
        .permute(0, 3, 1, 2)
        .div(255)
    ).double()
    expected = numpy_kid(real.numpy(), fake.numpy())
    assert by_model.loc["shifted", "kid_mean"] == pytest.approx(expected, rel=1e-6)
    assert len(per_image) == 24 and by_model.loc["same", "seconds_per_image"] == 0.5


def test_end_to_end_through_the_four_commands(tmp_path, style_folder, prompts_file):
    clip = save_tiny_clip(tmp_path / "clip")
    inception = save_random_fid_inception(tmp_path / "pt_inception.pth")
    common = [
        "model=tiny",
        "model.device=cpu",
        f"output_dir={tmp_path / 'out'}",
        f"style.images={style_folder}",
        "progress=false",
    ]
    assert main(["style", "fit", *common]) == 0
    assert main(["style", "finetune", *common, "style.steps=2", "style.train_batch_size=2"]) == 0
    generate = [
        f"style.prompts={prompts_file}",
        "style.guidance=[1,7.5]",
        "style.images_per_prompt=1",
        "style.sample_steps=2",
        "style.models=[baseline,style,finetuned]",
    ]
    assert main(["style", "generate", *common, *generate]) == 0
    metrics = [
        f"metrics.clip.path={clip}",
        f"metrics.fid.inception_weights={inception}",
        "metrics.device=cpu",
        "style.kid_subsets=3",
    ]
    assert main(["style", "evaluate", *common, *generate, *metrics]) == 0
    out = tmp_path / "out" / "style" / style_folder.name
    assert (out / "noise.pt").is_file() and (out / "finetune" / "unet").is_dir()
    assert len(list((out / "generate").rglob("*.png"))) == 12
    table = pd.read_csv(out / "evaluate" / "scores.csv")
    assert sorted(zip(table["model"], table["guidance"])) == sorted(
        (m, g) for m in ("baseline", "style", "finetuned") for g in (1.0, 7.5)
    )
    assert table["fid"].notna().all() and (table["n"] == 2).all()
    assert (table["seconds_per_image"] > 0).all() and table["clip_score"].notna().all()
    with Image.open(out / "evaluate" / "fid_clip.png") as png:
        assert png.size[0] > 100
    figure = fid_clip_figure(table)
    lines = figure.axes[0].get_lines()
    assert sorted(len(line.get_xdata()) for line in lines) == [2, 2, 2]
    assert sorted(t.get_text() for t in figure.axes[0].texts) == ["1", "1", "1"] + ["7.5"] * 3
    assert "tf_bilinear" in (out / "evaluate" / "scores.md").read_text()


def test_fid_off_scores_clip_only_without_inception_weights(
    tmp_path, style_folder, prompts_file, capsys
):
    common = [
        "model=tiny",
        "model.device=cpu",
        f"output_dir={tmp_path / 'out'}",
        f"style.images={style_folder}",
        f"style.prompts={prompts_file}",
        "style.images_per_prompt=1",
        "style.sample_steps=2",
        "style.guidance=[1]",
        "style.models=[baseline]",
        "progress=false",
    ]
    assert main(["style", "generate", *common]) == 0
    nowhere = f"metrics.fid.inception_weights={tmp_path / 'missing.pth'}"
    clip = f"metrics.clip.path={save_tiny_clip(tmp_path / 'clip')}"
    assert main(["style", "evaluate", *common, clip, nowhere, "metrics.device=cpu"]) == 1
    assert "metrics.fid.inception_weights=<path>" in capsys.readouterr().err  # auto requires it
    off = [*common, clip, nowhere, "metrics.device=cpu", "metrics.fid.enabled=false"]
    assert main(["style", "evaluate", *off]) == 0
    out = tmp_path / "out" / "style" / style_folder.name / "evaluate"
    table = pd.read_csv(out / "scores.csv")
    assert table[["fid", "kid_mean", "kid_std"]].isna().all().all()
    assert table["clip_score"].notna().all() and not (out / "fid_clip.png").exists()
    assert "FID/KID off" in (out / "scores.md").read_text()
    assert "inception" not in json.loads((out / "evaluate.json").read_text())["networks"]


def test_evaluate_before_generate_and_an_unknown_step_are_one_line_errors(
    tmp_path, style_folder, capsys
):
    args = ["model=tiny", f"output_dir={tmp_path}", f"style.images={style_folder}"]
    assert main(["style", "evaluate", *args]) == 1
    assert "run `style generate` first" in capsys.readouterr().err
    assert main(["style", "fit", *args, "style.imags=x"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "piebench style fit: unknown config key 'style.imags' (did you mean " + (
        "'style.images' or 'style.ema'?)"
    )
    assert main(["style", "fit", *args, "metrics=paritty"]) == 1
    err = capsys.readouterr().err
    assert "Could not find 'metrics/paritty'" in err and "parity_current" in err
    assert "Config search path" not in err
    assert main(["style", "fitt"]) == 2
    assert main(["style", "finetune", *args, "style.steps=0"]) == 0
    assert capsys.readouterr().out.strip().endswith("training-free, nothing to fine-tune")


def test_only_the_configured_sets_of_current_inputs_are_scored(
    make_cfg, tiny_model, stand_in_networks, caplog
):
    """``style.models`` / ``style.guidance`` pick the sets scored; images made from a style noise
    fitted again since are left out (and counted in a warning), not scored as the new model."""
    kid = ("style.kid_subsets=2", "style.kid_subset_size=2")
    cfg = make_cfg("style.models=[baseline,style]", *kid)
    run_dir(cfg).mkdir(parents=True)
    StyleNoise.standard((4, 8, 8)).save(run_dir(cfg) / NOISE_FILE)
    run_generate(cfg, tiny_model)
    one_set = make_cfg("style.models=[style]", "style.guidance=[4]", *kid)
    table = pd.read_csv(run_evaluate(one_set, stand_in_networks) / "scores.csv")
    assert list(zip(table["model"], table["guidance"], table["n"])) == [("style", 4.0, 4)]

    StyleNoise(torch.zeros(4, 8, 8), torch.full((4, 8, 8), 0.5)).save(run_dir(cfg) / NOISE_FILE)
    with caplog.at_level(logging.WARNING):
        table = pd.read_csv(run_evaluate(cfg, stand_in_networks) / "scores.csv")
    assert list(zip(table["model"], table["guidance"], table["n"])) == [
        ("baseline", 1.0, 4),
        ("baseline", 4.0, 4),
        ("style", 1.0, 0),  # a set not made from the current inputs: a row without scores
        ("style", 4.0, 0),
    ]
    assert table.loc[table["n"] == 0, ["fid", "clip_score"]].isna().all().all()
    assert table.loc[table["n"] > 0, ["fid", "clip_score"]].notna().all().all()
    assert "8 of 16 planned images are missing or were made from other inputs" in caplog.text
    assert "style: the style noise (style fit ran again)" in caplog.text  # what changed
    with pytest.raises(ConfigError, match="run `style generate` with the same settings"):
        run_evaluate(one_set, stand_in_networks)
    other_steps = make_cfg("style.models=[baseline]", "style.sample_steps=2", *kid)
    with pytest.raises(ConfigError, match="baseline: sample_steps 3 -> 2"):
        run_evaluate(other_steps, stand_in_networks)


@pytest.mark.parametrize(
    "override, message",
    [
        ("style.guidance=[]", "give at least one guidance weight"),
        ("style.guidance=[1,-2]", "weights must be >= 0, got -2"),
        ("style.guidance=2", "must be a list, e.g. style.guidance=[1,2]"),
        ("style.guidance=[7,7.0,2]", "style.guidance: 7 given twice"),
        ("style.models=[style,baseline,style]", "style.models: style given twice"),
    ],
)
def test_a_bad_guidance_grid_is_a_one_line_error(tmp_path, style_folder, capsys, override, message):
    args = ["model=tiny", f"output_dir={tmp_path}", f"style.images={style_folder}", override]
    assert main(["style", "generate", *args]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith(message) and len(err.splitlines()) == 1
    assert not (tmp_path / "style").exists()
