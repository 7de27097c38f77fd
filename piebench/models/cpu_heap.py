"""Keep freed tensor memory in the process heap on CPU runs (glibc only).

A UNet call on the CPU allocates and frees the same activation, attention and gradient buffers
at every step. glibc's defaults serve blocks above its mmap threshold with fresh mappings and
trim the top of the heap on free, so every step page-faults the same memory back in. Raising
both thresholds, as the parity README's CPU tip does with ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_``, keeps those blocks for reuse: the numbers do not change, the time
does (measured in the README's Speed section). The cost is that the process keeps its peak
heap until it exits, which is what a run on a dedicated machine wants anyway.

The environment variables only act at process start; ``mallopt`` sets the same two values in a
running process, so library users and in-process test runs get it too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # glibc malloc.h
_M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30  # blocks up to 1 GiB come from (and go back to) the heap


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process once; False where the C library
    is not glibc (macOS, musl), which then keeps its own policy."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    kept = bool(mallopt(_M_MMAP_THRESHOLD, KEEP_BYTES) and mallopt(_M_TRIM_THRESHOLD, KEEP_BYTES))
    if kept:
        log.debug("glibc keeps freed blocks up to %d bytes in the heap", KEEP_BYTES)
    return kept
