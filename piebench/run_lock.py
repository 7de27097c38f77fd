"""One writer per run folder (per shard, for a sharded run).

Two identical ``run`` commands started into one folder would both find every sample unfinished
and both edit all of them (twice the work, two records per sample). An advisory ``flock`` on a
hidden file in the folder, held while the run edits, lets the second one stop at once instead.
Shards lock their own file, so the shards of one run still go side by side; shards of another
split (``data.num_shards``) would edit some of the same samples, so a run also stops while a lock
of another split is held (``other_split_holding``). The lock is the kernel's: it goes away with
the process, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import re
from pathlib import Path
from typing import IO

SHARD_LOCK = re.compile(r"\.lock\.shard-\d+-of-(\d+)")


def lock_file_name(shard: int, num_shards: int) -> str:
    """``.lock`` for a whole run, ``.lock.shard-<i>-of-<n>`` for one shard."""
    return ".lock" if num_shards == 1 else f".lock.shard-{shard}-of-{num_shards}"


def try_lock(path: Path) -> IO[str] | None:
    """The open, exclusively locked ``path`` (keep it open to hold the lock; close to release),
    or None when another process holds it."""
    handle = path.open("a", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def other_split_holding(folder: Path, num_shards: int) -> str | None:
    """The name of a lock file in ``folder`` of a split other than ``num_shards`` that a running
    process holds (``is_held``), or None."""
    for path in sorted(folder.glob(".lock*")):
        match = SHARD_LOCK.fullmatch(path.name)
        split = int(match.group(1)) if match else 1 if path.name == ".lock" else None
        if split is not None and split != num_shards and is_held(path):
            return path.name
    return None


def is_held(path: Path) -> bool:
    """Whether a running process holds the lock at ``path`` (probed with a shared lock, released
    at once; a missing file is no lock)."""
    if not path.is_file():
        return False
    with path.open("a", encoding="utf-8") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False
