"""One ``bench`` measurement as a CSV row, appended to ``results/bench/<device>.csv``.

The row says what was measured on what: device and CPU model, thread count, library versions,
git commit, the settings (method, model, dtype, attention, resolution, steps, batch size), then
the figures, and the images timed (``data``: benchmark and selection). Columns are fixed
(``COLUMNS``) so files from different versions stay readable.
``cpu_s`` / ``baseline_cpu_s``: process CPU seconds per image, the figure to compare on a CPU that
other jobs share (wall time there depends on their load).
"""

from __future__ import annotations

import csv
import platform
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from piebench.manifest import git_hash, package_versions

COLUMNS: tuple[str, ...] = (
    "timestamp",
    "device",
    "cpu",
    "threads",
    "python",
    "torch",
    "diffusers",
    "transformers",
    "piebench",
    "git_hash",
    "method",
    "model",
    "dtype",
    "attention",
    "resolution",
    "steps",
    "batch_size",
    "batch_size_used",
    "images",
    "failed",
    "warmup",
    "inversion_s",
    "edit_s",
    "metrics_s",
    "total_s",
    "cpu_s",
    "images_per_s",
    "peak_mem_mb",
    "baseline_s",
    "baseline_cpu_s",
    "speedup",
    "baseline_passes",
    "note",
    "fast_path",
    "numerics",
    "data",
)


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """The row's machine and library columns."""
    versions = package_versions()
    return {
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        **{k: versions.get(k) for k in ("python", "torch", "diffusers", "transformers")},
        "piebench": versions.get("piebench"),
        "git_hash": (git_hash() or "")[:12],
    }


def device_slug(device: str) -> str:
    """A file name for a device name: ``NVIDIA H100 80GB HBM3`` -> ``nvidia-h100-80gb-hbm3``."""
    return re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-") or "device"


def append_row(row: dict[str, Any], out_dir: Path) -> Path:
    """Append ``row`` (keys from ``COLUMNS``) to ``out_dir/<device>.csv``; returns the file."""
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise KeyError(f"bench row has columns outside COLUMNS: {', '.join(unknown)}")
    path = Path(out_dir) / f"{device_slug(str(row['device']))}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    _upgrade_header(path)
    new = not path.is_file()
    with path.open("a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({k: _cell(row.get(k)) for k in COLUMNS})
    return path


def _upgrade_header(path: Path) -> None:
    """Rewrite a file written with older ``COLUMNS`` under the current header (new columns blank),
    so rows of every version stay in one readable table."""
    if not path.is_file():
        return
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) == COLUMNS:
            return
        rows = list(reader)
    upgraded = path.with_suffix(".csv.tmp")
    with upgraded.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    upgraded.replace(path)


def _cell(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else ("" if value is None else value)
