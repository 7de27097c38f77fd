"""Inference time and memory from a run's ``records.jsonl`` (written by the runner).

Each line is one sample attempt ``{"id", "image_path", "edit_type", "method", "status",
"error", "output", "inversion_s", "edit_s", "total_s", "peak_mem_mb", "batch_size"}``; a later
line for the same id supersedes earlier ones (a resumed or retried run), and a line cut short by
a killed run is skipped with a warning (that sample reruns). Times are wall-clock seconds
per image, so their mean is the headline "inference time" (lower is better).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from piebench.records import parse_records, parse_run_records

logger = logging.getLogger(__name__)

TIMING_COLUMNS: tuple[str, ...] = ("inversion_s", "edit_s", "total_s", "peak_mem_mb")
RECORD_COLUMNS: tuple[str, ...] = (
    "id",
    "image_path",
    "edit_type",
    "method",
    "status",
    "error",
    "output",
    *TIMING_COLUMNS,
    "batch_size",
)


def read_records(path: str | Path) -> pd.DataFrame:
    """The latest record per sample id, indexed by id (string), in file order of first sight.

    ``path`` is one records file, or a run folder: then every records file of the run is read
    (a sharded run's ``records.shard-<i>-of-<n>.jsonl`` merged, in id order)."""
    path = Path(path)
    if path.is_dir():
        rows, corrupt = parse_run_records(path)
    else:
        rows, bad = parse_records(path)
        corrupt = [(path, number) for number in bad]
    for file, number in corrupt:
        logger.warning("%s:%d: skipping a line that is not a record", file, number)
    frame = pd.DataFrame(list(rows.values()), columns=list(RECORD_COLUMNS))
    frame["id"] = frame["id"].astype(str)
    for column in TIMING_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame.set_index("id", drop=False)
