"""Finished samples saved on a background thread while the device works on the next batch.

JPEG encoding and the fsync of each record take a few milliseconds per image: negligible on a
CPU run, a few percent of a fast GPU run. One thread does the saving, so each sample's image
lands on disk before its record says ``ok`` (a rerun trusts that pair), and records keep their
order. At most one batch waits: submitting the next batch first waits for the previous one,
which bounds the images held in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Self


class OutputWriter:
    """Runs save jobs on one thread (``background=True``) or at once in the caller."""

    def __init__(self, background: bool) -> None:
        self._pool = ThreadPoolExecutor(1, "piebench-writer") if background else None
        self._pending: list[Future] = []

    def submit_batch(self, jobs: list[Callable[[], None]]) -> None:
        """Queue one batch's save jobs, after the previous batch's have finished."""
        self.wait()
        if self._pool is None:
            for job in jobs:
                job()
            return
        self._pending = [self._pool.submit(job) for job in jobs]

    def wait(self) -> None:
        """Block until every queued job is done; a job's exception is raised here."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        """Finish the queued jobs and stop the thread."""
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
