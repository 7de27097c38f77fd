"""What a report shows, read once: every run's folder and scores, and the benchmark's samples.

Scores come from ``scoring.cli.collect`` (saved ``scores_<profile>.csv`` reused, scored when
missing or stale, exactly as ``table`` does). The gallery's rows are the selected benchmark
samples plus any id a run scored that the selection lacks, so a sample a run never reached or
failed on is shown as such rather than left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from piebench.data.pie_bench import Sample, load_benchmark
from piebench.metrics.profiles import MetricProfile, resolve_profile
from piebench.scoring.cli import collect
from piebench.scoring.evaluate import benchmark_root
from piebench.scoring.runs import RunFolder, open_run
from piebench.scoring.tables import run_keys, value_columns


@dataclass(frozen=True)
class ScoredRun:
    """One run of the report. ``key`` is unique among the report's runs and safe as a folder
    name; ``scores`` is the run's per-sample scores indexed by id; ``meta`` their sidecar."""

    key: str
    folder: RunFolder = field(repr=False)
    scores: pd.DataFrame = field(repr=False)
    meta: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ReportInputs:
    """Everything the page is built from.

    ``frame`` is all runs' scores stacked (with a ``run_key`` column), ``samples`` the selected
    benchmark samples by id, ``invalid`` the selected entries that failed validation (id ->
    problem), ``ids`` the gallery's rows in id order and ``columns`` the value columns (metrics,
    then timings) that hold at least one number.
    """

    runs: list[ScoredRun]
    frame: pd.DataFrame = field(repr=False)
    samples: dict[str, Sample] = field(repr=False)
    invalid: dict[str, str]
    ids: list[str]
    columns: list[str]
    profile: MetricProfile
    data_root: Path


def gather(cfg: DictConfig) -> ReportInputs:
    """Read (and score where needed) the runs of ``cfg.runs`` and the ``cfg.data`` selection."""
    scored = collect(cfg, force=bool(cfg.rescore))
    folders = [open_run(str(path)) for path in cfg.runs]
    keys = run_keys([folder.run_name for folder in folders])
    runs = [
        ScoredRun(key, folder, frame.assign(run_key=key).set_index("id", drop=False), meta)
        for key, folder, (frame, meta) in zip(keys, folders, scored)
    ]
    data_cfg = OmegaConf.to_container(cfg.data, resolve=True)
    root = benchmark_root(folders[0], data_cfg.get("root"), notes=False)  # the gallery's sources
    bench = load_benchmark(root, data_cfg.get("types"), data_cfg.get("ids"), data_cfg.get("limit"))
    samples = {sample.id: sample for sample in bench.samples}
    invalid = {error.sample_id: str(error) for error in bench.invalid}
    frame = pd.concat([run.scores for run in runs], ignore_index=True)
    ids = sorted(set(samples) | set(invalid) | set(frame["id"].astype(str)))
    columns = [c for c in value_columns(frame) if frame[c].notna().any()]
    profile = resolve_profile(OmegaConf.to_container(cfg.metrics, resolve=True))
    return ReportInputs(runs, frame, samples, invalid, ids, columns, profile, root)


def invalid_error(inputs: ReportInputs, sample_id: str) -> str | None:
    """Why a row has no usable benchmark entry (None when it has one)."""
    if sample_id in inputs.samples:
        return None
    return inputs.invalid.get(sample_id, "not in the selected benchmark samples")
