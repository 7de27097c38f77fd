"""Per-sample run records (``records.jsonl``).

Each attempt appends one JSON line; a later line for the same id supersedes earlier ones, so an
interrupted run loses at most the sample in flight and a rerun resumes from what finished.

A sharded run (``data.shard=i data.num_shards=n``) appends to its own file,
``records.shard-<i>-of-<n>.jsonl``, so shards on several machines never write the same file;
everything that reads records merges every records file of the run folder (``parse_run_records``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

RECORDS_FILE = "records.jsonl"
SHARD_RECORDS = re.compile(r"records\.shard-\d+-of-\d+\.jsonl")


@dataclass
class SampleRecord:
    """One sample's outcome. Times are seconds per sample (batch time / batch size)."""

    id: str
    image_path: str
    edit_type: int | None
    method: str
    status: str  # "ok" | "failed"
    error: str | None = None
    output: str | None = None  # edited image, relative to the run dir
    inversion_s: float | None = None
    edit_s: float | None = None
    total_s: float | None = None
    peak_mem_mb: float | None = None
    batch_size: int = 1
    warnings: list[str] = field(default_factory=list)  # e.g. how a malformed field was used
    traceback: str | None = None  # for an unexpected error (likely a bug), the full traceback
    notes: dict[str, Any] = field(default_factory=dict)  # method facts (e.g. BLD candidate scores)


def parse_records(path: Path) -> tuple[dict[str, dict], list[int]]:
    """The last record per sample id (file order of first sight) and the numbers of the lines
    that are not records (a line cut short by a kill: that sample simply reruns)."""
    latest: dict[str, dict] = {}
    corrupt: list[int] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict) or "id" not in row:
            corrupt.append(number)
            continue
        latest[str(row["id"])] = row
    return latest, corrupt


def records_file(shard: int = 0, num_shards: int = 1) -> str:
    """The records file a run (or shard ``shard`` of ``num_shards``) appends to."""
    return RECORDS_FILE if num_shards == 1 else f"records.shard-{shard}-of-{num_shards}.jsonl"


def records_files(run_dir: Path) -> list[Path]:
    """Every records file of a run folder, least recently modified first: for an id found in
    several (a run re-sharded and resumed), the line of the newest file wins."""
    files = [
        p
        for p in Path(run_dir).glob("records*.jsonl")
        if p.name == RECORDS_FILE or SHARD_RECORDS.fullmatch(p.name)
    ]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def parse_run_records(run_dir: Path) -> tuple[dict[str, dict], list[tuple[Path, int]]]:
    """``parse_records`` over every records file of a run, and the (file, line number) of every
    line that is not a record. Several files (shards) are merged in id order, so a sharded run
    reads back exactly like the unsharded run of the same samples."""
    latest: dict[str, dict] = {}
    corrupt: list[tuple[Path, int]] = []
    files = records_files(run_dir)
    for path in files:
        rows, bad = parse_records(path)
        latest.update(rows)
        corrupt += [(path, number) for number in bad]
    if len(files) > 1:
        latest = dict(sorted(latest.items()))
    return latest, corrupt


def ends_cut_short(path: Path) -> bool:
    """Whether ``path`` exists and its last line has no newline (a write cut short)."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def append_row(path: Path, row: dict[str, Any], end_cut_line: bool) -> None:
    """Append ``row`` as one JSON line, flushed to disk (a kill loses at most the line in
    flight). ``end_cut_line``: the file's last line was cut short by a kill (``ends_cut_short``),
    so it is ended first and the new line is not glued onto it (and lost with it)."""
    with path.open("a", encoding="utf-8") as f:
        f.write(("\n" if end_cut_line else "") + json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def image_readable(path: Path) -> bool:
    """Whether ``path`` is a file whose header an image reader recognises (cheap: the pixels
    are not decoded)."""
    try:
        with Image.open(path):
            return True
    except (OSError, ValueError):
        return False


class RunRecords:
    """Append-only JSONL log of sample records with last-write-wins lookup. Appends go to
    ``name`` (this shard's file); lookups see every records file of the run."""

    def __init__(self, run_dir: Path, name: str = RECORDS_FILE) -> None:
        self.path = run_dir / name
        self.latest, self.corrupt_lines = parse_run_records(run_dir)
        self._cut_short = ends_cut_short(self.path)  # only this object appends from now on

    def finished(self, sample_id: str, run_dir: Path) -> bool:
        """True when the sample's last record is ok and its image is on disk and readable (an
        image emptied or overwritten since is edited again)."""
        row = self.latest.get(sample_id)
        return bool(
            row
            and row["status"] == "ok"
            and row.get("output")
            and image_readable(run_dir / row["output"])
        )

    def add(self, record: SampleRecord) -> None:
        """Append ``record`` as one line. A last line cut short by a kill is ended first, so the
        new record is not glued onto it (and lost with it)."""
        row = asdict(record)
        append_row(self.path, row, end_cut_line=self._cut_short)
        self._cut_short = False
        self.latest[record.id] = row
