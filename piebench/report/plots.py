"""The report's figures (matplotlib, PNG): each metric per edit type per run as grouped bars,
and seconds per image per run (inversion and edit stacked).

Values are the tables' aggregates (``scoring.tables.aggregate``: NaN-excluding means over the
samples that succeeded, in the paper's units), so a bar equals a table cell. Runs are the bars'
groups rather than methods, so two runs of one method (an ablation) stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from piebench.atomic_files import atomic_path
from piebench.data.pie_bench import EDIT_TYPES
from piebench.metrics.timing import TIMING_COLUMNS
from piebench.scoring.tables import aggregate, label

ALL = "all"  # the bar group of every edit type together
DPI = 100


@dataclass(frozen=True)
class Plot:
    """A written figure: its file (relative to the report folder) and a caption."""

    file: str
    caption: str


def metric_plots(frame: pd.DataFrame, columns: list[str], out: Path) -> list[Plot]:
    """One grouped-bar figure per metric: x = ``all`` then each edit type, one bar per run."""
    runs = list(dict.fromkeys(frame["run_key"]))
    overall = aggregate(frame, by=["run_key"]).assign(edit_type=ALL)
    by_type = aggregate(frame, by=["run_key", "edit_type"])
    means = pd.concat([overall, by_type], ignore_index=True)
    types = [ALL, *sorted(t for t in by_type["edit_type"].dropna().unique())]
    plots = []
    for column in [c for c in columns if c not in TIMING_COLUMNS and c in means.columns]:
        table = means.pivot_table(index="edit_type", columns="run_key", values=column)
        table = table.reindex(index=types, columns=runs)
        names = [ALL if t == ALL else f"{int(t)} {EDIT_TYPES.get(int(t), '')}" for t in types]
        caption = f"{label(column)} per edit type (mean over the samples that succeeded)"
        plots.append(_grouped_bars(table, names, label(column), caption, out / f"{column}.png"))
    return plots


def timing_plot(frame: pd.DataFrame, out: Path) -> Plot | None:
    """Mean seconds per image per run, inversion and edit stacked; None when no run has times
    (reference-tree folders record none)."""
    if "total_s" not in frame.columns or frame["total_s"].isna().all():
        return None
    means = aggregate(frame, by=["run_key"]).set_index("run_key")
    runs = list(dict.fromkeys(frame["run_key"]))
    means = means.reindex(runs)
    figure = Figure(figsize=(max(4.0, 1.2 * len(runs) + 2), 3.4))
    axes = figure.subplots()
    positions = np.arange(len(runs))
    bottom = np.zeros(len(runs))
    for part in ("inversion_s", "edit_s"):
        values = means[part].fillna(0).to_numpy() if part in means else np.zeros(len(runs))
        axes.bar(positions, values, 0.6, bottom=bottom, label=part.removesuffix("_s"))
        bottom += values
    for x, total in zip(positions, means["total_s"]):
        if not pd.isna(total):
            axes.annotate(f"{total:.3g} s", (x, total), ha="center", va="bottom", fontsize=8)
    axes.set_xticks(positions, runs, rotation=20, ha="right")
    axes.set_ylabel("seconds per image")
    axes.margins(y=0.2)  # room for the totals above the bars
    axes.legend(fontsize=8, loc="upper left", ncols=2)
    caption = "Seconds per image per run (mean of the records' per-sample times)"
    return _save(figure, out / "seconds_per_image.png", caption)


def _grouped_bars(
    table: pd.DataFrame, names: list[str], ylabel: str, caption: str, file: Path
) -> Plot:
    groups, runs = len(table.index), len(table.columns)
    width = 0.8 / max(runs, 1)
    figure = Figure(figsize=(max(6.0, 0.2 * groups * runs + 3), 3.4))
    axes = figure.subplots()
    for number, run in enumerate(table.columns):
        offsets = np.arange(groups) - 0.4 + width * (number + 0.5)
        axes.bar(offsets, table[run].to_numpy(dtype=float), width, label=str(run))
    axes.set_xticks(np.arange(groups), names, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel(ylabel)
    axes.legend(fontsize=8, ncols=min(runs, 4))
    return _save(figure, file, caption)


def _save(figure: Figure, file: Path, caption: str) -> Plot:
    """Write the figure (no pyplot: no global state, no window, whatever the backend)."""
    figure.tight_layout()
    with atomic_path(file) as tmp:
        figure.savefig(tmp, dpi=DPI, format="png")
    return Plot(file=f"{file.parent.name}/{file.name}", caption=caption)
