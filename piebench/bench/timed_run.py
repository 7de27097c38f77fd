"""Our side of ``bench``: the configured run through the real runner, timed, then scored.

The runner's own records give the per-image inversion and edit seconds (batch time / batch size,
device synchronised) and peak memory; the wall time of the whole run (image loading and writing
included) gives images/s. A warm-up run of one batch into another folder goes first when asked
(kernel selection, ``torch.compile``, metric networks loading), and is excluded from every figure.
The process's CPU time per image is kept beside the wall time: on a CPU shared with other jobs it
is what one uncontended core would have taken (with ``OMP_NUM_THREADS=1``).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf, open_dict

from piebench.metrics.timing import read_records
from piebench.models.sd import SDModel
from piebench.runner import Runner, sync_device

if TYPE_CHECKING:
    from piebench.metrics.networks import MetricNetworks

log = logging.getLogger(__name__)


@dataclass
class RunTiming:
    """Per-image figures of one timed run (seconds; None when not measured)."""

    images: int
    failed: int
    batch_size: int
    inversion_s: float
    edit_s: float
    wall_s_per_image: float
    cpu_s_per_image: float  # process CPU time (all threads) / images
    images_per_s: float
    peak_mem_mb: float
    metrics_s: float | None = None
    metrics_note: str = ""


def _fresh_run_cfg(cfg: DictConfig, work_dir: Path, run_name: str, limit: int | None) -> DictConfig:
    """The run config of bench's own folder ``work_dir/run_name``, emptied first: the figures
    are read from its records, which must not include samples an earlier job left there (a
    larger selection, a job cut short) when ``bench.work_dir`` is kept between jobs."""
    shutil.rmtree(work_dir / run_name, ignore_errors=True)
    run_cfg = cfg.copy()
    with open_dict(run_cfg):
        run_cfg.output_dir = str(work_dir)
        run_cfg.run_name = run_name
        run_cfg.rerun = True
        run_cfg.progress = False
        if limit is not None:
            run_cfg.data.limit = limit
    return run_cfg


def warm_up(cfg: DictConfig, model: SDModel, work_dir: Path) -> Path:
    """One untimed batch (the first samples of the selection); returns its run folder."""
    size = 1 if cfg.batch_size == "auto" else int(cfg.batch_size)
    limit = size if cfg.data.limit is None else min(size, int(cfg.data.limit))
    runner = Runner(_fresh_run_cfg(cfg, work_dir, "warmup", limit))
    runner.run(model)
    return runner.run_dir


def timed_run(cfg: DictConfig, model: SDModel, work_dir: Path) -> tuple[RunTiming, Path]:
    """Run the configured selection once, timed; returns the figures and the run folder."""
    runner = Runner(_fresh_run_cfg(cfg, work_dir, "timed", None))
    sync_device(model.device)
    start, cpu_start = time.perf_counter(), time.process_time()
    summary = runner.run(model)
    sync_device(model.device)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    ok = read_records(runner.run_dir).query("status == 'ok'")
    if ok.empty:
        raise RuntimeError(f"no sample was edited in {runner.run_dir}; see its records")
    timing = RunTiming(
        images=len(ok),
        failed=summary.failed,
        batch_size=int(ok["batch_size"].max()),
        inversion_s=float(ok["inversion_s"].mean()),
        edit_s=float(ok["edit_s"].mean()),
        wall_s_per_image=wall / len(ok),
        cpu_s_per_image=cpu / len(ok),
        images_per_s=len(ok) / wall,
        peak_mem_mb=float(ok["peak_mem_mb"].max()),
    )
    return timing, runner.run_dir


@dataclass(frozen=True)
class ScoringSetup:
    """The metric networks (loaded lazily), the metrics config to score with, notes for the row."""

    networks: MetricNetworks
    metrics_cfg: dict[str, Any]
    notes: tuple[str, ...] = ()


def scoring_setup(cfg: DictConfig) -> ScoringSetup:
    """What ``bench.metric_networks`` asks for: ``configured`` (the ``metrics.*`` weights) or
    ``random`` (the real shapes with random weights, FID off; ``metrics/random_networks.py``).
    Nothing loads here; the value itself is checked with the config (``BenchSchema``)."""
    from piebench.metrics.networks import MetricNetworks
    from piebench.metrics.random_networks import RandomMetricNetworks

    metrics_cfg: dict[str, Any] = OmegaConf.to_container(cfg.metrics, resolve=True)
    if str(cfg.bench.get("metric_networks", "configured")) == "configured":
        return ScoringSetup(MetricNetworks(metrics_cfg), metrics_cfg)
    metrics_cfg["fid"] = {**(metrics_cfg.get("fid") or {}), "enabled": False}
    note = "metric networks of the real shapes with random weights (FID off)"
    return ScoringSetup(RandomMetricNetworks(metrics_cfg), metrics_cfg, (note,))


def time_metrics(
    cfg: DictConfig, scoring: ScoringSetup, run_dirs: list[Path], timing: RunTiming
) -> None:
    """Score the runs in order with one set of metric networks; the last one is timed (the
    earlier ones, the warm-up, load the networks). Missing weights: a note instead."""
    from piebench.metrics.weights import MissingWeightsError
    from piebench.scoring.evaluate import evaluate_run

    networks, metrics_cfg, notes = scoring.networks, scoring.metrics_cfg, list(scoring.notes)
    data_cfg = OmegaConf.to_container(cfg.data, resolve=True)
    try:
        for run_dir in run_dirs:
            start = time.perf_counter()
            frame = evaluate_run(
                run_dir, metrics_cfg=metrics_cfg, data_cfg=data_cfg, networks=networks
            )
            elapsed = time.perf_counter() - start
    except MissingWeightsError as err:
        # the row's note stays one short cell; the log has the full message (paths, keys)
        timing.metrics_note = f"not measured: no weights for {err.network}"
        log.warning("bench: metrics not measured: %s", err)
        return
    timing.metrics_s = elapsed / max(1, int((frame["status"] == "ok").sum()))
    if len(run_dirs) == 1:
        notes.append("includes loading the metric networks (no warm-up)")
    timing.metrics_note = "; ".join(notes)
