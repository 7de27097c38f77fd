"""The ``run`` command: Hydra composes ``conf/config.yaml`` with the command-line overrides
(``-m`` for multirun sweeps) and hands the config to the runner."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from piebench.config_schema import ConfigError, validate
from piebench.data.errors import BenchmarkError
from piebench.models.loading import ModelLoadError
from piebench.registry import UnknownNameError
from piebench.runner import RunError, Runner, RunSummary

log = logging.getLogger("piebench")
CLEAN_ERRORS = (BenchmarkError, ConfigError, ModelLoadError, UnknownNameError, RunError)
_exit_codes: list[int] = []


CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base=None, config_path=CONF_DIR, config_name="config")
def _run(cfg: DictConfig) -> None:
    try:
        validate(cfg)
        summary = Runner(cfg).run()
    except CLEAN_ERRORS as err:
        print(f"piebench run: error: {err}", file=sys.stderr)
        _exit_codes.append(2)
        return
    print(summary.line())
    for failure in summary.failures:
        print(f"  failed {failure}")
    if cfg.evaluate and summary.ok + summary.skipped:
        _score(cfg, summary)
    _exit_codes.append(1 if summary.failed else 0)


def _score(cfg: DictConfig, summary: RunSummary) -> None:
    """Score the finished run and print its row; missing metric weights only skip scoring."""
    from piebench.metrics.weights import MissingWeightsError
    from piebench.scoring.evaluate import evaluate_run
    from piebench.scoring.tables import aggregate, display, render

    try:
        frame = evaluate_run(
            summary.run_dir,
            metrics_cfg=OmegaConf.to_container(cfg.metrics, resolve=True),
            data_cfg=OmegaConf.to_container(cfg.data, resolve=True),
        )
    except MissingWeightsError as err:
        print(f"piebench run: scoring skipped: {err} (or pass evaluate=false)", file=sys.stderr)
        return
    print(render(display(aggregate(frame)), "markdown"))


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 all edited, 1 some samples failed, 2 the run could not start."""
    _exit_codes.clear()
    _run()
    return max(_exit_codes, default=2)
