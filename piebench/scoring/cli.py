"""``python -m piebench evaluate | table | leaderboard``: Hydra overrides plus ``--format``.

The config is ``conf/evaluate.yaml`` (defaults ``data: sample``, ``metrics: parity``), composed
with Hydra's compose API so the commands take the same ``key=value`` overrides as ``run``.
Every table starts with a line naming the metric profile and its settings; the leaderboard is
CSV unless ``--format`` asks for another.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from piebench.atomic_files import write_text_atomic
from piebench.cli_errors import user_message
from piebench.conf_compose import compose_conf
from piebench.conf_help import config_help
from piebench.config_schema import ConfigError, validate_view
from piebench.data.errors import BenchmarkError
from piebench.metrics.networks import MetricNetworks
from piebench.metrics.profiles import resolve_profile
from piebench.metrics.registry import DEFAULT_METRICS
from piebench.metrics.weights import MissingWeightsError
from piebench.registry import UnknownNameError
from piebench.scoring.evaluate import (
    SELECTION_KEYS,
    check_metrics_config,
    current_state,
    evaluate_run,
    load_set_scores,
    metric_names,
    scores_folder,
    scores_path,
    selected_rows,
    stale_reason,
)
from piebench.scoring.leaderboard import leaderboard
from piebench.scoring.reference_csv import FORMAT as REFERENCE_FORMAT
from piebench.scoring.reference_csv import reference_csv
from piebench.scoring.runs import RunFolder, open_run
from piebench.scoring.tables import (
    FORMATS,
    MASK_INPUT_METHODS,
    MASK_INPUT_NOTE,
    RUN_ROWS,
    aggregate,
    caption,
    compare_paper,
    display,
    label,
    load_paper,
    render,
    run_legend,
    stack_runs,
    unmatched_note,
    with_set_scores,
)

logger = logging.getLogger(__name__)

# Named user errors print one line; anything else (likely a bug) keeps its traceback.
USER_ERRORS = (
    MissingWeightsError,
    UnknownNameError,
    BenchmarkError,
    ConfigError,
    FileNotFoundError,
    PermissionError,  # a run folder (check_writable) or out= the user cannot write
    HydraException,  # a mistyped key or group option
)
TABLE_ROWS = ("method", "edit_type")


def load_config(overrides: list[str], name: str = "evaluate") -> DictConfig:
    """Compose ``conf/<name>.yaml`` (``evaluate``, or ``report``) with ``key=value`` overrides."""
    cfg = compose_conf(name, overrides)
    validate_view(cfg)
    if isinstance(cfg.runs, str):  # runs=outputs/direct: one folder without brackets
        cfg.runs = [cfg.runs]
    if not cfg.scores_dir:
        raise ConfigError("config key scores_dir must name a folder (default outputs/scores)")
    return cfg


COMMAND_HELP = {
    "evaluate": "Score run folders (always scores again), save the scores, print the table.",
    "table": "Print tables from saved scores (scored first where missing): a row per run.",
    "leaderboard": "Print the leaderboard, one row per run (out= also writes it).",
}
DEFAULT_FORMAT = {"evaluate": "markdown", "table": "markdown", "leaderboard": "csv"}
# per-image scores in the reference evaluator's CSV layout: evaluate and table only
COMMAND_FORMATS = {
    "evaluate": (*FORMATS, REFERENCE_FORMAT),
    "table": (*FORMATS, REFERENCE_FORMAT),
    "leaderboard": FORMATS,
}


def _parse(command: str, argv: list[str]) -> tuple[argparse.Namespace, DictConfig]:
    parser = argparse.ArgumentParser(
        prog=f"python -m piebench {command}",
        usage=f"%(prog)s [--format {{{','.join(COMMAND_FORMATS[command])}}}] [key=value ...]",
        description=COMMAND_HELP[command],
        epilog=config_help("evaluate"),  # --help lists the keys, not only --format
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--format",
        choices=COMMAND_FORMATS[command],
        default=DEFAULT_FORMAT[command],
        help=f"output format (default: {DEFAULT_FORMAT[command]})",
    )
    args, overrides = parser.parse_known_args(argv)
    cfg = load_config(overrides)
    if not cfg.runs:
        raise ConfigError("no run folders given: pass runs=[outputs/direct,...]")
    if cfg.by not in TABLE_ROWS:
        raise ConfigError(f"unknown by={cfg.by!r}; valid: {', '.join(TABLE_ROWS)}")
    return args, cfg


def _setup_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def load_scores(folder: str | Path, profile: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A run's saved per-sample scores of a metric profile and their sidecar, from its scores
    folder (``scores_folder``; adds a ``profile`` column)."""
    path = scores_path(folder, profile)
    types = {"id": str, "run": str, "method": str, "error": str, "edit_type": "Int64"}
    frame = pd.read_csv(path, dtype=types)
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    return frame.assign(profile=profile), meta


def collect(cfg: DictConfig, force: bool) -> list[tuple[pd.DataFrame, dict[str, Any]]]:
    """Scores of every run: saved ones reused unless ``force`` or ``stale_reason`` says why not.

    With the default ``metrics.names`` saved scores stand with the columns they have (a warning
    names the missing ones), and a run changed since is scored again on those same metrics: a
    run evaluated on a few metrics is not rescored on all eight, which may need networks the
    user never set up. Other ``metrics.names`` are scored where missing, and (``evaluate``
    too) the run is scored again on them and the saved ones: asking for one metric never drops
    the others' columns."""
    metrics_cfg = OmegaConf.to_container(cfg.metrics, resolve=True)
    data_cfg = OmegaConf.to_container(cfg.data, resolve=True)
    check_metrics_config(metrics_cfg)
    profile, names = resolve_profile(metrics_cfg), metric_names(metrics_cfg)
    wanted = [] if names == list(DEFAULT_METRICS) else names
    networks = MetricNetworks(metrics_cfg)  # shared: each network loads once per command
    runs = [open_run(run_dir) for run_dir in cfg.runs]  # a mistyped folder fails at once
    # evaluate scores what data.* selects; the views score whole runs and show the selection
    scoring_cfg = data_cfg if force else omit(data_cfg, SELECTION_KEYS)
    out = []
    for run_dir, run in zip(cfg.runs, runs):
        folder = scores_folder(run, cfg.scores_dir)
        path = scores_path(folder, profile.name)
        if force:
            reason = "evaluate scores again" if path.is_file() else "no saved scores"
        else:
            state = current_state(run, data_cfg.get("root"), scoring_cfg)
            reason = stale_reason(path, profile, wanted, state)
        if reason:
            logger.info("%s: scoring (%s)", run_dir, reason)
            # evaluate's default is every metric; asked-for names join the saved ones
            every = force and not wanted
            chosen = {**metrics_cfg, "names": names if every else _rescored_names(path, wanted)}
            evaluate_run(
                run_dir,
                metrics_cfg=chosen,
                data_cfg=scoring_cfg,
                networks=networks,
                scores_dir=cfg.scores_dir,
                notes=force,  # else current_state has logged them
            )
        else:
            logger.info(
                "%s: reusing %s (unchanged since; `evaluate`, or rescore=true in a view, scores again)",
                run_dir,
                path,
            )
            _note_missing(path, names)
        frame, meta = load_scores(folder, profile.name)
        out.append((frame if force else selected_rows(frame, run, data_cfg), meta))
    return out


def omit(mapping: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """``mapping`` without ``keys``."""
    return {key: value for key, value in mapping.items() if key not in keys}


def _rescored_names(path: Path, wanted: list[str]) -> list[str]:
    """The metrics a view command scores a run on again: those of its saved scores at ``path``
    (not all eight, which may need networks never set up) plus the ``wanted`` ones they lack,
    so asking for one more metric adds its column instead of replacing the saved ones. Nothing
    saved: ``wanted``, else every default metric."""
    sidecar = path.with_suffix(".json")
    saved = []
    if sidecar.is_file():
        saved = list(json.loads(sidecar.read_text(encoding="utf-8")).get("metrics") or [])
    return (
        [*saved, *(name for name in wanted if name not in saved)] or wanted or list(DEFAULT_METRICS)
    )


def _note_missing(path: Path, names: list[str]) -> None:
    missing = sorted(set(names) - set(pd.read_csv(path, nrows=0).columns))
    if missing:
        logger.warning(
            "%s lacks %s: shown as saved (`evaluate` with metrics.names listing every metric "
            "wanted scores them)",
            path,
            ", ".join(missing),
        )


def _emit(text: str, out: str | None) -> None:
    print(text)
    if out:
        write_text_atomic(text + "\n", Path(out))


def _named_runs(cfg: DictConfig) -> tuple[list[RunFolder], list[str], str | None]:
    """The runs of ``cfg.runs``, their names, and the ``runs: key = folder`` legend (None when
    every run's key is its name)."""
    runs = [open_run(run_dir) for run_dir in cfg.runs]
    names = [run.run_name for run in runs]
    return runs, names, run_legend(names, [str(run_dir) for run_dir in cfg.runs])


def _tables(cfg: DictConfig, scored: list[tuple[pd.DataFrame, dict[str, Any]]], fmt: str) -> str:
    """One row per run (``RUN_ROWS``), per edit type too with ``by=edit_type``; ``--format
    reference``: a row per image instead, as the reference evaluator's CSV."""
    runs, names, legend = _named_runs(cfg)
    if fmt == REFERENCE_FORMAT:
        if legend:
            logger.info(legend)
        return reference_csv([f for f, _ in scored], names)
    frame = stack_runs([f for f, _ in scored], names)
    by = list(RUN_ROWS) if cfg.by == "method" else [*RUN_ROWS, "edit_type"]
    folders = [scores_folder(run, cfg.scores_dir) for run in runs]
    sets = stack_runs([load_set_scores([folder]) for folder in folders], names)
    aggregated = with_set_scores(aggregate(frame, by=by), sets)
    profile = resolve_profile(OmegaConf.to_container(cfg.metrics, resolve=True))
    parts = [
        caption(f"PIE-Bench scores, {profile.header()}", fmt),
        render(display(aggregated), fmt),
    ]
    if legend:
        parts.append(caption(legend, fmt))
    if MASK_INPUT_METHODS.intersection(aggregated["method"].astype(str)):
        parts.append(caption(MASK_INPUT_NOTE, fmt))
    if cfg.compare == "paper":
        per_run, paper = aggregate(frame), load_paper()
        compared = compare_paper(per_run, paper)  # a block per run
        if not compared.empty:
            parts += [
                caption(f"Ours vs published Table 1 (paper units), {profile.header()}", fmt),
                render(compared.rename(columns=label), fmt),
            ]
        note = unmatched_note(per_run, paper)
        if note:
            parts.append(caption(note, fmt))
    elif cfg.compare is not None:
        raise ConfigError(f"unknown compare={cfg.compare!r}; valid: paper")
    return "\n\n".join(parts)


def _leaderboard(
    cfg: DictConfig, scored: list[tuple[pd.DataFrame, dict[str, Any]]], fmt: str
) -> str:
    """The leaderboard in ``fmt``. When a run's key is not its name (two runs of one name), the
    ``runs: key = folder`` legend follows as a caption in markdown and latex; a CSV stays rows
    only (what scripts read), so there the legend goes to the log."""
    text = render(leaderboard(scored), fmt).rstrip()
    legend = _named_runs(cfg)[2]
    if legend and fmt == "csv":
        logger.info(legend)
    elif legend:
        text += "\n\n" + caption(legend, fmt)
    return text


def _main(command: str, argv: list[str]) -> int:
    _setup_logging()
    try:
        args, cfg = _parse(command, argv)
        scored = collect(cfg, force=command == "evaluate" or bool(cfg.rescore))
        if command == "leaderboard":
            _emit(_leaderboard(cfg, scored, args.format), cfg.out)
        else:
            _emit(_tables(cfg, scored, args.format), cfg.out if command == "table" else None)
    except USER_ERRORS as err:
        print(f"piebench {command}: {user_message(err)}", file=sys.stderr)
        return 1
    return 0


def evaluate_main(argv: list[str]) -> int:
    """Score each run folder (always re-scores), save the scores, print the per-method table."""
    return _main("evaluate", argv)


def table_main(argv: list[str]) -> int:
    """Print aggregate tables (``--format``, ``by=``, ``compare=paper``) from saved scores."""
    return _main("table", argv)


def leaderboard_main(argv: list[str]) -> int:
    """Print the leaderboard (CSV, or ``--format markdown|latex``); ``out=`` also writes it."""
    return _main("leaderboard", argv)
