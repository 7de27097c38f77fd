"""Reading a run folder: ours (records + manifest) or one in the reference's output tree.

Ours: ``<run>/annotation_images/<image_path>`` (512x512 edits), ``<run>/records.jsonl`` (or one
records file per shard, merged) and ``<run>/manifest.json``. The reference's: only
``<run>/annotation_images/`` holding 4-panel strips ``[text | source | reconstruction | edit]``;
the method is the folder name.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from piebench.data.pie_bench import IMAGE_DIR
from piebench.metrics.timing import read_records
from piebench.records import records_files

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
_SHARD_MANIFEST = re.compile(r"manifest\.shard-(\d+)-of-(\d+)\.json")


@dataclass(frozen=True)
class RunFolder:
    """One scored folder. ``records`` is None for a folder in the reference's tree."""

    path: Path
    method: str
    run_name: str
    manifest: dict[str, Any] = field(repr=False)
    records: pd.DataFrame | None = field(repr=False)

    def edited_file(self, sample_id: str, image_path: str) -> Path:
        """The record's ``output`` (relative to the run) if any, else the benchmark's path."""
        if self.records is not None and sample_id in self.records.index:
            output = self.records.at[sample_id, "output"]
            if isinstance(output, str) and output:
                return self.path / output
        return self.path / IMAGE_DIR / image_path


def open_run(path: str | Path) -> RunFolder:
    """Read a run folder's manifest and records (both optional). The folder must hold images,
    or be one of our runs (a manifest or records) whose samples all failed so far."""
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"run folder {path} does not exist")
    ours = (path / MANIFEST_FILE).is_file() or bool(records_files(path))
    if not ours and not (path / IMAGE_DIR).is_dir():
        raise FileNotFoundError(
            f"{path} has no {IMAGE_DIR}/ folder: not a piebench run or reference output"
        )
    manifest: dict[str, Any] = {}
    if (path / MANIFEST_FILE).is_file():
        manifest = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
    records = read_records(path) if records_files(path) else None
    method = str(manifest.get("method") or _record_method(records) or path.name)
    run_name = str(manifest.get("run_name") or path.name)
    return RunFolder(path, method, run_name, manifest, records)


def unfinished_note(run: RunFolder) -> str | None:
    """Why ``run`` may hold fewer samples than it was asked for (None: it finished): a run's
    manifest gets its ``finished`` time only when the run ends, so a run interrupted or still
    going has none (a sharded run: some shard's manifest lacks it, or is not there yet).
    Reference folders have no manifest and no note."""
    if not run.manifest:
        return None
    shards = [m for m in map(_SHARD_MANIFEST.fullmatch, os.listdir(run.path)) if m]
    if not shards:
        if "finished" in run.manifest:
            return None
        what = "it"
    else:
        total = max(int(m.group(2)) for m in shards)
        finished = sum(
            "finished" in json.loads((run.path / m.group(0)).read_text(encoding="utf-8"))
            for m in shards
            if int(m.group(2)) == total
        )
        if finished == total:
            return None
        what = f"{total - finished} of its {total} shards"
    return (
        f"{run.path}: {what} did not finish (interrupted or still running): its scores cover "
        "the samples edited so far; rerun the same run command to complete it"
    )


def _record_method(records: pd.DataFrame | None) -> str | None:
    if records is None or records["method"].dropna().empty:
        return None
    return str(records["method"].dropna().iloc[-1])


def read_edited(file: Path, size: tuple[int, int]) -> np.ndarray:
    """The edited image as (H,W,3) uint8, cropped from a strip when it is one.

    A non-square image is a reference strip: its rightmost, bottom ``size`` square is the
    edit (the reference crops the rightmost 512x512). A square image of another size than
    the source raises ``ValueError`` (scored as NaN with the reason).
    """
    if not file.is_file():
        raise FileNotFoundError(f"edited image not found: {file}")
    try:
        with Image.open(file) as image:
            image = image.convert("RGB")
            width, height = image.size
            if width != height and width >= size[1] and height >= size[0]:
                image = image.crop((width - size[1], height - size[0], width, height))
            array = np.asarray(image)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"unreadable edited image {file}: {err}") from err
    if array.shape[:2] != size:
        raise ValueError(
            f"edited image {file.name} is {width}x{height}, the source is {size[1]}x{size[0]}"
        )
    return array
