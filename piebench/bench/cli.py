"""``python -m piebench bench [overrides]``: time a configured run against the reference's way.

Hydra composes ``conf/bench.yaml`` (the run config plus ``bench.*``); ``-m`` sweeps, e.g.
``batch_size=1,4,8 model.dtype=fp32,bf16``, each job appending its own row. Prints the figures
and the speed-up over the baseline and appends a row to ``<bench.out_dir>/<device>.csv``.

The jobs of one sweep run in one process and share what does not change between them: the model
(kept while consecutive jobs ask for the same ``model.*``; one at a time, so a sweep over dtypes
never holds two on the device) and the baseline (measured once per method and selection; it does
not depend on the batch size or the fast path). On a lent GPU with minutes to spend, this is what
lets a batch-size sweep of every method fit: order the sweep's keys so the model keys vary
slowest (Hydra varies the last-listed key fastest).
"""

from __future__ import annotations

import gc
import logging
import sys
import tempfile
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from piebench.bench.baseline import baseline_seconds_per_image, passes_of
from piebench.bench.results import append_row, environment
from piebench.bench.timed_run import (
    RunTiming,
    scoring_setup,
    time_metrics,
    timed_run,
    warm_up,
)
from piebench.cli_run import CLEAN_ERRORS, CONF_DIR
from piebench.conf_compose import composition_error
from piebench.config_schema import validate
from piebench.data.pie_bench import describe_selection, load_configured
from piebench.manifest import device_name, device_numerics
from piebench.methods import METHODS
from piebench.models.fast_path import describe
from piebench.models.loading import load_model
from piebench.models.sd import SDModel

log = logging.getLogger("piebench")
# the baseline's precision, attention maths and fast path: the reference's fp32, explicit, none
BASELINE_OVERRIDES = {
    "dtype": "fp32",
    "attention": "explicit",
    "autocast": None,
    "channels_last": False,
    "compile": False,
}
_exit_codes: list[int] = []
_models: dict[str, SDModel] = {}  # this sweep's current model, by its model.* settings
_baselines: dict[str, tuple[float, float]] = {}  # this sweep's baselines, by baseline_key


def sweep_model(cfg: DictConfig) -> SDModel:
    """The model of ``cfg.model``: the previous job's when its settings are the same, else a
    fresh load after the previous one is released."""
    key = OmegaConf.to_yaml(cfg.model, resolve=True)
    if key not in _models:
        _models.clear()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        _models[key] = load_model(cfg.model)
    return _models[key]


def baseline_key(cfg: DictConfig) -> str:
    """Everything the baseline's figure depends on: the method, the selection, the seed and the
    model, minus what the baseline overrides anyway (dtype, attention, the fast path)."""
    model = {k: v for k, v in cfg.model.items() if k not in BASELINE_OVERRIDES}
    parts = {
        "method": cfg.method,
        "data": cfg.data,
        "seed": cfg.seed,
        "model": model,
        "baseline_limit": cfg.bench.baseline_limit,
        "warmup": cfg.bench.warmup,
    }
    return OmegaConf.to_yaml(OmegaConf.create(parts), resolve=True)


def baseline_model(cfg: DictConfig, model: SDModel) -> SDModel:
    """The configured model when it already is fp32 with explicit attention and no fast-path
    switch, else a second copy loaded that way (the reference's precision and attention maths)."""
    if model.dtype.itemsize == 4 and model.explicit_attention and describe(cfg.model) == "off":
        return model
    model_cfg = cfg.model.copy()
    with open_dict(model_cfg):
        model_cfg.update(BASELINE_OVERRIDES)
    return load_model(model_cfg)


def measure_baseline(cfg: DictConfig, model: SDModel) -> tuple[float, float]:
    """Wall and process CPU seconds per image of the baseline (once per ``baseline_key`` in a
    sweep)."""
    key = baseline_key(cfg)
    if key in _baselines:
        log.info("baseline: the figure an earlier job of this sweep measured")
    else:
        _baselines[key] = _measure_baseline(cfg, model)
    return _baselines[key]


def _measure_baseline(cfg: DictConfig, model: SDModel) -> tuple[float, float]:
    data = cfg.data
    samples = load_configured(data).samples  # the timed run's: its shard of the selection
    limit = cfg.bench.baseline_limit
    samples = samples[: int(limit)] if limit is not None else samples
    method = METHODS.get(str(cfg.method.name))(baseline_model(cfg, model), cfg.method)
    return baseline_seconds_per_image(
        method, samples, int(data.resolution), int(cfg.seed), bool(cfg.bench.warmup)
    )


def row_of(
    cfg: DictConfig, model: SDModel, timing: RunTiming, baseline: tuple[float, float] | None
) -> dict:
    passes = passes_of(str(cfg.method.name))
    wall, cpu = baseline or (None, None)
    return {
        **environment(),
        "device": device_name(model.device),
        "method": cfg.method.name,
        "model": model.name,
        "dtype": str(model.dtype).replace("torch.", ""),
        "attention": "explicit" if model.explicit_attention else "sdpa",
        "resolution": int(cfg.data.resolution),
        "steps": int(cfg.method.steps),
        "batch_size": cfg.batch_size,
        "batch_size_used": timing.batch_size,
        "images": timing.images,
        "failed": timing.failed,
        "warmup": bool(cfg.bench.warmup),
        "inversion_s": timing.inversion_s,
        "edit_s": timing.edit_s,
        "metrics_s": timing.metrics_s,
        "total_s": timing.wall_s_per_image,
        "cpu_s": timing.cpu_s_per_image,
        "images_per_s": timing.images_per_s,
        "peak_mem_mb": timing.peak_mem_mb,
        "baseline_s": wall,
        "baseline_cpu_s": cpu,
        "speedup": wall / timing.wall_s_per_image if wall else None,
        "baseline_passes": passes.description if baseline else "",
        "note": timing.metrics_note,
        "fast_path": describe(cfg.model),
        "numerics": device_numerics(model.device),
        "data": describe_selection(cfg.data),  # which images: `images` says only how many
    }


def report(row: dict) -> str:
    def fmt(key: str, unit: str = "s/image") -> str:
        value = row[key]
        return "not measured" if value is None else f"{value:.4g} {unit}"

    lines = [
        (
            f"bench {row['method']} on {row['device']} ({row['cpu']}, {row['threads']} "
            f"threads): {row['model']} {row['dtype']} {row['attention']}, fast path "
            f"{row['fast_path']}, {row['resolution']} "
            f"px, {row['steps']} steps, batch {row['batch_size_used']}, {row['images']} images "
            f"({row['data']})"
        ),
        f"  inversion  {fmt('inversion_s')}",
        f"  edit       {fmt('edit_s')}",
        f"  metrics    {fmt('metrics_s')}",
        (
            f"  run total  {fmt('total_s')} ({row['images_per_s']:.4g} images/s, "
            f"peak {row['peak_mem_mb']:.0f} MB; process CPU {fmt('cpu_s')})"
        ),
    ]
    if row["baseline_s"] is not None:
        lines += [
            (
                f"  baseline   {fmt('baseline_s')} (process CPU {fmt('baseline_cpu_s')}; "
                f"batch 1, fp32, explicit attention: {row['baseline_passes']})"
            ),
            f"  speed-up   {row['speedup']:.2f}x",
        ]
    return "\n".join(lines)


@hydra.main(version_base=None, config_path=CONF_DIR, config_name="bench")
def _bench(cfg: DictConfig) -> None:
    try:
        validate(cfg)
        scoring = scoring_setup(cfg) if cfg.bench.metrics else None
        model = sweep_model(cfg)
        work = cfg.bench.work_dir
        with tempfile.TemporaryDirectory(prefix="piebench-bench-") as scratch:
            work_dir = Path(work or scratch)
            scored = [warm_up(cfg, model, work_dir)] if cfg.bench.warmup else []
            timing, run_dir = timed_run(cfg, model, work_dir)
            if scoring is not None:
                time_metrics(cfg, scoring, [*scored, run_dir], timing)
        baseline = measure_baseline(cfg, model) if cfg.bench.baseline else None
    except CLEAN_ERRORS as err:
        print(f"piebench bench: error: {err}", file=sys.stderr)
        _exit_codes.append(2)
        return
    row = row_of(cfg, model, timing, baseline)
    path = append_row(row, Path(cfg.bench.out_dir))
    print(report(row))
    print(f"row appended to {path}")
    _exit_codes.append(0)


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 measured, 2 the benchmark could not start."""
    problem = composition_error("bench", sys.argv[1:] if argv is None else argv, validate)
    if problem:
        print(f"piebench bench: error: {problem}", file=sys.stderr)
        return 2
    _exit_codes.clear()
    _models.clear()
    _baselines.clear()
    _bench()
    return max(_exit_codes, default=2)
