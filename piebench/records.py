"""Per-sample run records (``records.jsonl``) and atomic output writes.

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
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
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


class RunRecords:
    """Append-only JSONL log of sample records with last-write-wins lookup. Appends go to
    ``name`` (this shard's file); lookups see every records file of the run."""

    def __init__(self, run_dir: Path, name: str = RECORDS_FILE) -> None:
        self.path = run_dir / name
        self.latest, self.corrupt_lines = parse_run_records(run_dir)

    def finished(self, sample_id: str, run_dir: Path) -> bool:
        """True when the sample's last record is ok and its image is on disk."""
        row = self.latest.get(sample_id)
        return bool(
            row
            and row["status"] == "ok"
            and row.get("output")
            and (run_dir / row["output"]).is_file()
        )

    def add(self, record: SampleRecord) -> None:
        row = asdict(record)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.latest[record.id] = row


def write_image_atomic(image: np.ndarray, path: Path, quality: int = 75) -> None:
    """Write (H,W,3) uint8 to ``path`` via a temp file + rename: never a truncated image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            options = {"quality": quality} if fmt == "JPEG" else {}
            Image.fromarray(image).save(f, format=fmt, **options)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(text: str, path: Path) -> None:
    """Write text via a temp file + rename: readers (and other shards writing the same bytes)
    never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(data: dict, path: Path) -> None:
    """Write JSON via a temp file + rename."""
    write_text_atomic(json.dumps(data, indent=2, default=str), path)
