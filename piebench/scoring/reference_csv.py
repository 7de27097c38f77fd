"""Per-image scores in the layout of the reference evaluator's CSV (``evaluation/evaluate.py``).

Why: analysis scripts written around the reference's ``evaluation_result.csv`` read one wide
table, ``file_id`` then a ``<method>|<metric>`` column per method and metric, a row per image,
and ``nan`` where a score does not exist (e.g. the unedited part of a full mask). This writes
our scores (of our runs or of reference folders) in that layout, each run keyed by its table
key, so those scripts run unchanged. A sample a run did not score leaves its cells empty.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence

import pandas as pd

from piebench.metrics.registry import DEFAULT_METRICS
from piebench.scoring.tables import run_keys

FORMAT = "reference"  # the ``--format`` value of ``evaluate`` and ``table``


def _cell(value: object) -> str:
    return "nan" if isinstance(value, float) and math.isnan(value) else repr(float(value))


def reference_csv(frames: Sequence[pd.DataFrame], names: Sequence[str]) -> str:
    """The wide per-image CSV of per-sample score ``frames`` (``frames[i]``: the run named
    ``names[i]``); metric columns in the reference's default order, then any others."""
    present = [c for frame in frames for c in frame.columns]
    metrics = [m for m in DEFAULT_METRICS if m in present]
    header = ["file_id"]
    cells: dict[str, dict[str, str]] = {}
    for frame, key in zip(frames, run_keys(names)):
        header += [f"{key}|{metric}" for metric in metrics]
        for row in frame.to_dict("records"):
            scored = row.get("status") == "ok"
            line = cells.setdefault(str(row["id"]), {})
            for metric in metrics:
                line[f"{key}|{metric}"] = _cell(row.get(metric, math.nan)) if scored else ""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for file_id in sorted(cells):
        writer.writerow([file_id, *(cells[file_id].get(column, "") for column in header[1:])])
    return out.getvalue().rstrip("\n")
