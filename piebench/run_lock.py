"""One writer per run folder (per shard, for a sharded run).

Two identical ``run`` commands started into one folder would both find every sample unfinished
and both edit all of them (twice the work, two records per sample). An advisory ``flock`` on a
hidden file in the folder, held while the run edits, lets the second one stop at once instead.
Shards lock their own file, so the shards of one run still go side by side. The lock is the
kernel's: it goes away with the process, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO


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
