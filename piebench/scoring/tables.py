"""Tables from per-sample scores: aggregates in the paper's units, and ours beside the paper.

Aggregates are NaN-excluding means (an empty region or an unscored sample is NaN) with the
number of values behind each mean; metric values are shown in PIE-Bench Table 1's units
(structure x10^3, LPIPS x10^3, MSE x10^4, SSIM x10^2, PSNR and CLIP as is) with an arrow saying
whether higher or lower is better. Every table carries its metric profile (``caption``: the
profile's name and settings, as a comment line in csv and latex so the table still parses).

Rows are runs, not methods: two runs of one method (a guidance sweep, an ablation whose jobs all
run ``direct``) are different results, and one mean over both would be a number no run produced.
A run is named by its key (``run_keys``: the run name, made unique among the table's runs, so
``outputs1/direct`` and ``outputs2/direct`` stay apart), held in the ``run_key`` column that
``stack_runs`` adds and shown as ``run``. Every table has the ``run`` column, even when each
method has one run, so its layout does not depend on the runs given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from piebench.config_schema import ConfigError
from piebench.metrics.registry import METRICS, scale_of
from piebench.metrics.timing import TIMING_COLUMNS
from piebench.resources import paper_table

PAPER_TABLE = paper_table()
RUN_KEY = "run_key"  # a run's key among the runs of a table (run_keys); headed "run"
RUN_ROWS: tuple[str, ...] = ("method", RUN_KEY)  # one table row per run
HEADLINE: tuple[str, ...] = (
    "structure_distance",
    "psnr_unedit_part",
    "lpips_unedit_part",
    "mse_unedit_part",
    "ssim_unedit_part",
    "clip_similarity_target_image",
    "clip_similarity_target_image_edit_part",
)
SET_COLUMNS: tuple[str, ...] = ("fid", "kid_mean", "kid_std")  # set scores (lower is better)
COUNT_SUFFIX = "__count"
FORMATS = ("markdown", "csv", "latex")
# methods that take the ground-truth edit mask as an input (PIE-Bench's fairness caveat)
MASK_INPUT_METHODS = frozenset({"bld"})
MASK_INPUT_MARK = " (mask input)"
MASK_INPUT_NOTE = (
    "(mask input): the method reads PIE-Bench's ground-truth edit mask, so its unedited-region "
    "numbers (PSNR, LPIPS, MSE, SSIM) are not comparable with those of mask-free methods"
)
_SUPERSCRIPT = {3: "³", 4: "⁴", 2: "²"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")
REPORT_COLUMNS = ("source", "mask")  # the report's picture folders beside the runs' ones


def run_keys(names: Sequence[str]) -> list[str]:
    """Folder-safe, unique keys for run names (``a/b`` -> ``a_b``; a repeat gets ``-2``, ...; so
    does a run named like one of the report's own picture columns, ``source`` or ``mask``).

    The report names its picture folders by them, so tables and report use the same keys."""
    keys: list[str] = []
    for name in names:
        base = _UNSAFE.sub("_", name) or "run"
        key, number = base, 1
        while key in keys or key in REPORT_COLUMNS:
            number += 1
            key = f"{base}-{number}"
        keys.append(key)
    return keys


def stack_runs(frames: Sequence[pd.DataFrame], names: Sequence[str]) -> pd.DataFrame:
    """One frame of several runs' rows (per-sample or set scores), each run's rows keyed by its
    ``run_keys`` key in a ``run_key`` column; ``frames[i]`` belongs to the run named ``names[i]``.
    The ``run`` column cannot serve: two folders may hold runs of one name."""
    keyed = [frame.assign(**{RUN_KEY: key}) for frame, key in zip(frames, run_keys(names))]
    return pd.concat(keyed, ignore_index=True) if keyed else pd.DataFrame()


def run_legend(names: Sequence[str], folders: Sequence[str]) -> str | None:
    """``runs: key = folder, ...`` when a key differs from its run's name (a name given twice, or
    one with characters a key leaves out), else None: then each row's run says which folder."""
    keys = run_keys(names)
    if keys == list(names):
        return None
    return "runs: " + ", ".join(f"{key} = {folder}" for key, folder in zip(keys, folders))


def value_columns(frame: pd.DataFrame) -> list[str]:
    """Metric and timing columns present in a per-sample frame, in registry/timing order."""
    return [c for c in frame.columns if c in METRICS or c in TIMING_COLUMNS]


def aggregate(frame: pd.DataFrame, by: Sequence[str] = RUN_ROWS) -> pd.DataFrame:
    """Mean of every metric per group in paper units, with counts.

    The default groups are runs (``frame`` from ``stack_runs``); add ``edit_type`` for one row
    per run and edit type. Only ``status == "ok"`` rows count towards the means. Returns one
    row per group, in the order groups first appear: the ``by`` columns, ``profile`` (the metric
    profile, when the frame has it), ``n`` (samples scored), ``failed`` (samples the method
    failed on or that could not be scored: a mean over fewer samples than asked for says so),
    each value column (NaN-excluding mean x paper scale) and ``<column>__count`` (non-NaN
    values behind that mean). A group whose every sample failed keeps its row (n = 0). Every
    metric column of ``frame`` stays, scored or not (a script's layout must not depend on which
    samples failed); a timing column without any value (a reference tree's) is left out.
    """
    ok = frame[frame["status"] == "ok"]
    columns = [c for c in value_columns(frame) if c in METRICS or ok[c].notna().any()]
    keys = [*by, "profile"] if "profile" in frame.columns else list(by)
    passed = (frame["status"] == "ok").rename("n")
    counts = passed.groupby([frame[k] for k in keys], sort=False, dropna=False)
    out = pd.DataFrame({"n": counts.sum(), "failed": counts.size() - counts.sum()})
    grouped = ok.groupby(keys, sort=False, dropna=False)
    for column in columns:
        out[column] = grouped[column].mean() * scale_of(column)
    for column in columns:
        out[column + COUNT_SUFFIX] = grouped[column].count()
    return out.reset_index()


def with_set_scores(aggregated: pd.DataFrame, sets: pd.DataFrame) -> pd.DataFrame:
    """``aggregated`` (by run, or run and edit type) with the FID/KID columns of the matching
    ``set_scores`` groups (``all``, or ``edit_type=<k>``) of the same run appended (``sets`` and
    the scores stacked by ``stack_runs`` with the same run names); unchanged when no run has set
    scores. Rows without a matching group get NaN."""
    if sets.empty:
        return aggregated
    by_type = "edit_type" in aggregated.columns
    groups = (
        [f"edit_type={int(t)}" if pd.notna(t) else "" for t in aggregated["edit_type"]]
        if by_type
        else ["all"] * len(aggregated)
    )
    keys = [RUN_KEY, "group"]
    lookup = sets.drop_duplicates(keys, keep="last").set_index(keys)
    out = aggregated.copy()
    for column in SET_COLUMNS:
        out[column] = [
            lookup[column].get((run, group), float("nan"))
            for run, group in zip(aggregated[RUN_KEY], groups)
        ]
    return out


def label(column: str) -> str:
    """Display header: name, paper scale and better direction (``psnr_unedit_part ↑``); a run's
    key is headed ``run``."""
    if column == RUN_KEY:
        return "run"
    scale = scale_of(column)
    unit = f" ×10{_SUPERSCRIPT.get(round(math.log10(scale)), '')}" if scale != 1 else ""
    if column in METRICS:
        arrow = " ↑" if METRICS.get(column).higher_is_better else " ↓"
    else:
        arrow = " ↓" if column in TIMING_COLUMNS or column in SET_COLUMNS[:2] else ""
    return f"{column}{unit}{arrow}"


def display(aggregated: pd.DataFrame) -> pd.DataFrame:
    """Human-readable table: labelled headers, 2 decimals, ``(n=k)`` where NaNs were excluded."""
    shown = aggregated[[c for c in aggregated.columns if not c.endswith(COUNT_SUFFIX)]].copy()
    for column in shown.columns:
        count_column = column + COUNT_SUFFIX
        if count_column not in aggregated.columns:
            continue
        shown[column] = [
            _cell(value, count, n)
            for value, count, n in zip(
                aggregated[column], aggregated[count_column], aggregated["n"]
            )
        ]
    if "method" in shown.columns:
        shown["method"] = [mask_marked(str(m)) for m in shown["method"]]
    return shown.rename(columns={c: label(c) for c in shown.columns})


def mask_marked(method: str) -> str:
    """The method's name, marked when it reads the ground-truth mask (``MASK_INPUT_NOTE``)."""
    return method + MASK_INPUT_MARK if method in MASK_INPUT_METHODS else method


def _cell(value: float, count: float, n: int) -> str:
    """A mean to 2 decimals, with the count behind it when NaNs were left out; blank when the
    group has no value at all (every sample failed, or a reference folder's timings)."""
    if pd.isna(value) or pd.isna(count) or not count:
        return ""
    text = f"{value:.2f}"
    return text if count == n else f"{text} (n={int(count)})"


def caption(text: str, fmt: str) -> str:
    """A line above a table: as is in markdown, a ``#`` comment in csv, a ``%`` one in latex."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format '{fmt}'; valid formats: {', '.join(FORMATS)}")
    return {"markdown": "", "csv": "# ", "latex": "% "}[fmt] + text


# the headers' units and arrows as maths, which pdflatex sets without extra packages
LATEX_SYMBOLS = str.maketrans(
    {"↑": r"$\uparrow$", "↓": r"$\downarrow$", "×": r"$\times$"}
    | {sup: f"$^{{{power}}}$" for power, sup in _SUPERSCRIPT.items()}
)


def render(table: pd.DataFrame, fmt: str) -> str:
    """Render a display table as ``markdown``, ``csv`` or ``latex`` (floats with two decimals
    and empty cells blank, as in markdown; units and arrows as maths)."""
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "latex":
        text = table.to_latex(index=False, escape=True, float_format="%.2f", na_rep="")
        return text.translate(LATEX_SYMBOLS)
    if fmt == "markdown":
        return _markdown(table)
    raise ConfigError(f"unknown format '{fmt}'; valid formats: {', '.join(FORMATS)}")


def _markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table (pandas' ``to_markdown`` needs ``tabulate``, not a dependency)."""
    cells = [[str(c) for c in table.columns]] + [
        ["" if pd.isna(v) else (f"{v:.2f}" if isinstance(v, float) else str(v)) for v in row]
        for row in table.itertuples(index=False)
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def load_paper(path: str | Path = PAPER_TABLE) -> pd.DataFrame:
    """Published Table 1, columns renamed to metric names (values stay in paper units)."""
    paper = pd.read_csv(path)
    return paper.rename(columns={c: c.rsplit("_x1e", 1)[0] for c in paper.columns if "_x1e" in c})


def match_paper(method: str, paper: pd.DataFrame) -> pd.Series | None:
    """The paper row of a method: its key, ``<method>+p2p`` (P2P is the default editor) or an
    alias (reference output folder names); case-insensitive."""
    name = method.lower()
    for _, row in paper.iterrows():
        aliases = str(row.get("aliases") or "").lower().split("|")
        if name in (row["key"].lower(), row["key"].lower().removesuffix("+p2p")) or name in aliases:
            return row
    return None


def unmatched_note(aggregated: pd.DataFrame, paper: pd.DataFrame) -> str | None:
    """The caption naming the runs ``compare_paper`` leaves out (no published row for their
    method), so a missing block is explained; None when every run has one."""
    names = RUN_KEY if RUN_KEY in aggregated.columns else "method"
    left = [
        str(row[names])
        for _, row in aggregated.iterrows()
        if match_paper(str(row["method"]), paper) is None
    ]
    if not left:
        return None
    if len(left) == len(aggregated):
        return "(no run matches a row of the published Table 1)"
    return f"(not in the published Table 1, so not compared: {', '.join(left)})"


def compare_paper(aggregated: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Ours beside the paper for the rows whose method matches, with absolute and relative
    deltas.

    Four rows per matched row of ``aggregated`` (so per run, when it is ``aggregate``'s default):
    ``ours``, ``paper``, ``delta`` (ours - paper) and ``delta_%`` (100 * delta / paper), over the
    headline columns, in paper units. Two runs of one method each get their block, the paper's
    row repeated, so each run's deltas sit under its own numbers. The ``ours`` row carries the
    run's ``n`` and ``failed`` (when ``aggregated`` has them): a mean over a few samples beside
    the paper's 700 says so.
    """
    columns = [c for c in HEADLINE if c in aggregated.columns and c in paper.columns]
    out = []
    for _, ours in aggregated.iterrows():
        published = match_paper(str(ours["method"]), paper)
        if published is None:
            continue
        base = {"method": ours["method"]}
        if RUN_KEY in aggregated.columns:
            base[RUN_KEY] = ours[RUN_KEY]
        base["paper_row"] = published["key"]
        if "profile" in aggregated.columns:
            base["profile"] = ours["profile"]
        rows = {kind: dict(base, kind=kind) for kind in ("ours", "paper", "delta", "delta_%")}
        for count in ("n", "failed"):
            if count in aggregated.columns:
                for kind, row in rows.items():
                    row[count] = ours[count] if kind == "ours" else None
        for column in columns:
            mine, theirs = float(ours[column]), float(published[column])
            rows["ours"][column], rows["paper"][column] = mine, theirs
            rows["delta"][column] = mine - theirs
            rows["delta_%"][column] = 100.0 * (mine - theirs) / theirs
        out.extend(rows.values())
    compared = pd.DataFrame(out)
    counts = [c for c in ("n", "failed") if c in compared.columns]
    return compared.astype({c: "Int64" for c in counts})
