"""``python -m piebench bench`` on the tiny model: the printed report and the CSV row."""

import csv

import pytest

from piebench.__main__ import main
from piebench.bench.results import COLUMNS, device_slug
from tests.metrics.tiny_networks import tiny_metrics_cfg


def metric_overrides(folder) -> list[str]:
    metrics = tiny_metrics_cfg(folder)
    return [
        f"metrics.clip.path={metrics['clip']['path']}",
        f"metrics.dino.weights={metrics['dino']['weights']}",
        f"metrics.lpips.backbone_weights={metrics['lpips']['backbone_weights']}",
        "metrics.dino.resize=64",
        "metrics.device=cpu",
        *(f"metrics.dino.arch.{k}={v}" for k, v in metrics["dino"]["arch"].items()),
    ]


def test_bench_appends_a_row_with_timings_metrics_and_the_baseline_ratio(tmp_path, capsys):
    """Three samples at batch 2 after a warm-up batch, scored with tiny metric networks, then
    the baseline: every figure present and positive, the ratio the baseline over our time."""
    out = tmp_path / "bench"
    args = ["bench", "method=direct", "model=tiny", "method.steps=2", "data.limit=3"]
    args += ["batch_size=2", f"bench.out_dir={out}", *metric_overrides(tmp_path / "nets")]
    assert main(args) == 0
    (path,) = out.glob("*.csv")
    with path.open() as f:
        (row,) = list(csv.DictReader(f))
    assert tuple(row) == COLUMNS
    assert path.stem == device_slug(row["device"])
    assert (row["method"], row["model"], row["dtype"], row["attention"]) == (
        "direct",
        "tiny",
        "float32",
        "sdpa",
    )
    assert (row["steps"], row["batch_size"], row["batch_size_used"], row["images"]) == (
        "2",
        "2",
        "2",
        "3",
    )
    assert row["torch"] and row["threads"] and row["cpu"]
    positive = ("inversion_s", "edit_s", "metrics_s", "total_s", "cpu_s", "images_per_s")
    for key in (*positive, "baseline_s", "baseline_cpu_s"):
        assert float(row[key]) > 0, key
    assert float(row["total_s"]) >= float(row["inversion_s"]) + float(row["edit_s"])
    speedup = float(row["baseline_s"]) / float(row["total_s"])
    assert float(row["speedup"]) == pytest.approx(speedup, rel=1e-4)
    assert "offset pass" in row["baseline_passes"]
    printed = capsys.readouterr().out
    assert f"speed-up   {float(row['speedup']):.2f}x" in printed and str(path) in printed


def test_bench_without_metric_weights_says_so_and_skips_the_baseline_on_request(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-hf-cache"))
    out = tmp_path / "bench"
    args = ["bench", "method=ddim", "model=tiny", "method.steps=2", "data.limit=1"]
    args += ["bench.baseline=false", "bench.warmup=false", f"bench.out_dir={out}"]
    assert main(args) == 0
    (path,) = out.glob("*.csv")
    with path.open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["metrics_s"] == "" and row["note"].startswith("not measured")
    assert row["baseline_s"] == row["baseline_cpu_s"] == row["speedup"] == ""
    assert "metrics    not measured" in capsys.readouterr().out


def test_bench_bad_value_exits_2_naming_the_key(tmp_path, capsys):
    args = ["bench", "model=tiny", "batch_size=0", f"bench.out_dir={tmp_path}"]
    assert main(args) == 2
    assert "batch_size=0" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.csv"))
