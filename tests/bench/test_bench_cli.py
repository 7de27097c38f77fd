"""``python -m piebench bench`` on the tiny model: the printed report and the CSV row."""

import csv
from pathlib import Path

import pytest

from piebench.__main__ import main
from piebench.bench.results import COLUMNS, device_slug
from piebench.metrics.random_networks import RandomMetricNetworks
from tests.metrics.tiny_networks import TINY_CLIP_CONFIG, TINY_DINO_ARCH, tiny_metrics_cfg


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
    assert row["torch"] and row["threads"] and row["cpu"] and row["data"] == "sample limit=3"
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
    assert row["metrics_s"] == "" and row["note"].startswith("not measured: no weights for ")
    assert "\n" not in row["note"] and len(row["note"]) < 120
    assert row["baseline_s"] == row["baseline_cpu_s"] == row["speedup"] == ""
    assert "metrics    not measured" in capsys.readouterr().out


def test_bench_times_scoring_with_random_metric_networks_where_no_weights_exist(
    tmp_path, monkeypatch
):
    """``bench.metric_networks=random``: the eight metrics are timed with no weights anywhere
    (empty torch and HF caches), FID off, and the row says the networks were random."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-hf-cache"))
    monkeypatch.setattr(RandomMetricNetworks, "clip_config", TINY_CLIP_CONFIG)
    out = tmp_path / "bench"
    args = ["bench", "method=ddim", "model=tiny", "method.steps=2", "data.limit=1"]
    args += ["bench.baseline=false", "bench.warmup=false", f"bench.out_dir={out}"]
    args += ["bench.metric_networks=random", "metrics.dino.resize=64", "metrics.device=cpu"]
    args += [f"metrics.dino.arch.{k}={v}" for k, v in TINY_DINO_ARCH.items()]
    assert main(args) == 0
    (path,) = out.glob("*.csv")
    with path.open() as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["metrics_s"]) > 0
    assert row["note"].startswith("metric networks of the real shapes with random weights")


def test_bench_unknown_metric_networks_fails_before_the_run(tmp_path, capsys):
    args = ["bench", "model=tiny", "bench.metric_networks=imagenet", f"bench.out_dir={tmp_path}"]
    assert main(args) == 2
    assert "bench.metric_networks='imagenet'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.csv"))


def test_bench_config_that_cannot_compose_exits_2_in_one_message(tmp_path, capsys):
    assert main(["bench", "model=tiny", "metho.steps=2", f"bench.out_dir={tmp_path}"]) == 2
    assert "unknown config key 'metho.steps' (did you mean 'method.steps'" in (
        capsys.readouterr().err
    )
    assert main(["bench", "model=tinyy", f"bench.out_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "Could not find 'model/tinyy'" in err and "Config search path" not in err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("bench.baseline_limit=0", "bench.baseline_limit=0: must be >= 1"),
        ("bench.baseline_limit=abc", "bench.baseline_limit"),
        ("bench.baseline=maybe", "bench.baseline"),
    ],
)
def test_bench_keys_are_typed(tmp_path, capsys, override, message):
    assert main(["bench", "model=tiny", override, f"bench.out_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.csv"))


def test_bench_bad_value_exits_2_naming_the_key(tmp_path, capsys):
    args = ["bench", "model=tiny", "batch_size=0", f"bench.out_dir={tmp_path}"]
    assert main(args) == 2
    assert "batch_size=0" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.csv"))


def test_a_sweep_shares_the_model_and_the_baseline_between_its_jobs(tmp_path, monkeypatch):
    """``bench -m``: batch sizes reuse the loaded model and the method's baseline; a new dtype
    loads a new model (the old one released first); a new method measures its own baseline."""
    import piebench.bench.cli as bench_cli

    loads, baselines = [], []
    load, measure = bench_cli.load_model, bench_cli._measure_baseline

    def counting_load(model_cfg):
        loads.append((model_cfg.dtype, model_cfg.attention, len(bench_cli._models)))
        return load(model_cfg)

    def counting_measure(cfg, model):
        baselines.append(str(cfg.method.name))
        return measure(cfg, model)

    monkeypatch.setattr(bench_cli, "load_model", counting_load)
    monkeypatch.setattr(bench_cli, "_measure_baseline", counting_measure)
    out = tmp_path / "bench"
    args = ["bench", "-m", "model=tiny", "model.dtype=fp32,bf16", "method=ddim,npi"]
    args += ["batch_size=1,2", "method.steps=2", "data.limit=2", "bench.baseline_limit=1"]
    args += ["bench.metrics=false", f"bench.out_dir={out}", f"output_dir={tmp_path / 'sweep'}"]
    assert main(args) == 0
    (path,) = out.glob("*.csv")
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8
    # the sweep's model: fp32, then bf16 once fp32 is released; the baseline's own fp32 explicit
    # copies are loaded only for the two baselines measured
    assert [(d, a) for d, a, _ in loads if a == "sdpa"] == [("fp32", "sdpa"), ("bf16", "sdpa")]
    assert all(held == 0 for _, a, held in loads if a == "sdpa")
    assert baselines == ["ddim", "npi"]
    for method in ("ddim", "npi"):
        figures = {(r["baseline_s"], r["baseline_cpu_s"]) for r in rows if r["method"] == method}
        assert len(figures) == 1 and float(next(iter(figures))[0]) > 0


def test_a_kept_work_dir_is_emptied_so_earlier_jobs_do_not_count(tmp_path):
    """``bench.work_dir`` kept between jobs: a job on one sample after a job on three (or one cut
    short) counts only its own sample, not the records the earlier job left in timed/."""
    out, work = tmp_path / "bench", tmp_path / "work"
    base = ["bench", "model=tiny", "method=ddim", "method.steps=2", "bench.baseline=false"]
    base += ["bench.metrics=false", f"bench.out_dir={out}", f"bench.work_dir={work}"]
    assert main([*base, "data.limit=3", "batch_size=3"]) == 0
    assert main([*base, "data.limit=1", "batch_size=1"]) == 0
    (path,) = out.glob("*.csv")
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["images"], r["batch_size_used"]) for r in rows] == [("3", "3"), ("1", "1")]
    assert len(list((work / "timed" / "annotation_images").rglob("*.jpg"))) == 1


def test_committed_bench_files_have_the_current_header():
    """A committed figure file under an older header would be rewritten by the next ``bench``
    (a tracked-file diff with no new figure): keep them on ``COLUMNS``."""
    files = sorted((Path(__file__).parents[2] / "results" / "bench").glob("*.csv"))
    assert files, "no committed bench figures"
    for path in files:
        with path.open(newline="", encoding="utf-8") as f:
            assert tuple(next(csv.reader(f))) == COLUMNS, path.name


def test_the_baseline_of_a_shard_times_that_shard_s_samples(tmp_path, monkeypatch):
    """``bench data.shard=1 data.num_shards=2``: the baseline runs on the samples the timed run
    edits (its shard), so the ratio compares like with like."""
    import piebench.bench.cli as bench_cli

    seen: list[list[str]] = []

    def recording_baseline(method, samples, *args):
        seen.append([s.id for s in samples])
        return 1.0, 1.0

    monkeypatch.setattr(bench_cli, "baseline_seconds_per_image", recording_baseline)
    args = ["bench", "model=tiny", "method=ddim", "method.steps=2", "data.limit=4"]
    args += ["data.shard=1", "data.num_shards=2", "bench.metrics=false", "bench.warmup=false"]
    assert main([*args, f"bench.out_dir={tmp_path / 'bench'}"]) == 0
    assert seen == [["100000000001", "300000000003"]]  # ids 1 and 3 of the sorted 4
    (path,) = (tmp_path / "bench").glob("*.csv")
    with path.open() as f:
        assert next(csv.DictReader(f))["data"] == "sample limit=4 shard=1/2"
