"""The ``run`` command: Hydra composes ``conf/config.yaml`` with the command-line overrides
(``-m`` for multirun sweeps) and hands the config to the runner."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from piebench.conf_compose import composition_error
from piebench.config_schema import ConfigError, validate
from piebench.data.errors import BenchmarkError
from piebench.metrics.weights import MissingWeightsError
from piebench.models.loading import ModelLoadError
from piebench.registry import UnknownNameError
from piebench.resources import config_dir
from piebench.runner import RunError, Runner, RunSummary

log = logging.getLogger("piebench")
CLEAN_ERRORS = (
    BenchmarkError,
    ConfigError,
    MissingWeightsError,
    ModelLoadError,
    UnknownNameError,
    RunError,
)
_exit_codes: list[int] = []


CONF_DIR = config_dir()


# Swept keys that never name a job folder: the shards of a run write into one folder.
UNNAMED_SWEEP_KEYS = {"method", "data.shard", "data.num_shards"}


def sweep_overrides(argv: list[str]) -> list[str]:
    """The multirun's command-line overrides. A launcher that runs jobs in other processes
    (submitit) does not pass the command line on, so they are read back from the
    ``multirun.yaml`` Hydra saved in the sweep folder before launching."""
    saved = Path(HydraConfig.get().sweep.dir) / "multirun.yaml"
    if saved.is_file():
        return list(OmegaConf.load(saved).hydra.overrides.task)
    return [a for a in argv if "=" in a and not a.startswith("-")]


def swept_keys(argv: list[str]) -> list[str]:
    """Keys swept by this multirun: comma lists on the command line and a preset's sweeper params."""
    overrides = sweep_overrides(argv)
    keys = [
        o.get_key_element()
        for o in OverridesParser.create().parse_overrides(overrides)
        if o.is_sweep_override()
    ]
    keys += [str(k) for k in HydraConfig.get().sweeper.get("params") or {}]
    return sorted(set(keys) - UNNAMED_SWEEP_KEYS)


def name_multirun_job(cfg: DictConfig) -> None:
    """Give each job of a multirun its own folder: ``<method>_<key>=<value>...`` for the swept
    keys other than ``method`` (a run_name set on the command line or by a preset is kept)."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN or cfg.run_name != cfg.method.name:
        return
    job = dict(o.split("=", 1) for o in hydra_cfg.overrides.task if "=" in o)
    if "run_name" in job:
        return
    parts = [
        f"{key}={job[key]}".replace("/", "-") for key in swept_keys(sys.argv[1:]) if key in job
    ]
    if parts:
        with open_dict(cfg):
            cfg.run_name = "_".join([str(cfg.method.name), *parts])


@hydra.main(version_base=None, config_path=CONF_DIR, config_name="config")
def _run(cfg: DictConfig) -> None:
    try:
        name_multirun_job(cfg)
        validate(cfg)
        if cfg.evaluate:  # a metrics typo stops the run now, not after all the edits
            from piebench.scoring.evaluate import check_metrics_config

            check_metrics_config(OmegaConf.to_container(cfg.metrics, resolve=True))
        summary = Runner(cfg).run()
    except CLEAN_ERRORS as err:
        print(f"piebench run: error: {err}", file=sys.stderr)
        _exit_codes.append(2)
        return
    print(summary.line())
    for failure in summary.failures:
        print(f"  failed {failure}")
    if cfg.evaluate and summary.ok + summary.skipped and int(cfg.data.num_shards) > 1:
        print(
            f"scoring skipped in a shard: run evaluate runs=[{summary.run_dir}] when all are done"
        )
    elif cfg.evaluate and summary.ok + summary.skipped:
        _score(cfg, summary)
    _exit_codes.append(1 if summary.failed else 0)


def _score(cfg: DictConfig, summary: RunSummary) -> None:
    """Score the run as ``table`` does (the whole folder; saved scores reused while the run is
    unchanged, so a finished rerun loads no metric network) and print the selection's row;
    missing metric weights only skip scoring."""
    from piebench.metrics.profiles import resolve_profile
    from piebench.metrics.weights import MissingWeightsError
    from piebench.scoring.cli import collect
    from piebench.scoring.evaluate import DEFAULT_SCORES_DIR
    from piebench.scoring.tables import aggregate, caption, display, render, stack_runs

    view = OmegaConf.create(
        {
            "runs": [str(summary.run_dir)],
            "metrics": cfg.metrics,
            "data": cfg.data,
            "scores_dir": str(DEFAULT_SCORES_DIR),
        }
    )
    try:
        [(frame, _)] = collect(view, force=False)
    except MissingWeightsError as err:
        print(f"piebench run: scoring skipped (evaluate=false skips it): {err}", file=sys.stderr)
        return
    profile = resolve_profile(OmegaConf.to_container(cfg.metrics, resolve=True))
    print(caption(f"PIE-Bench scores, {profile.header()}", "markdown"))
    print(render(display(aggregate(stack_runs([frame], [str(cfg.run_name)]))), "markdown"))


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 all edited, 1 some samples failed, 2 the run could not start (or its device
    failed mid-run), 130 interrupted (Ctrl-C). Jobs that a
    launcher runs in other processes (submitit) report in their own logs and manifests; here
    their sweep counts as done once every job has returned (a job that raised fails the sweep)."""
    _exit_codes.clear()
    problem = composition_error("config", sys.argv[1:] if argv is None else argv, validate)
    if problem:
        print(f"piebench run: error: {problem}", file=sys.stderr)
        return 2
    try:
        _run()
    except KeyboardInterrupt:  # Ctrl-C: one line, not the traceback of whatever torch was doing
        print(
            "piebench run: interrupted; the samples finished so far are kept: run the same "
            "command again to resume",
            file=sys.stderr,
        )
        return 130
    except SystemExit as stop:  # Hydra exits 1 on a config it cannot compose (method=foo)
        if stop.code and not _exit_codes:
            return 2
        raise
    return max(_exit_codes, default=0)
