"""What saved scores were computed from, so they are reused only while it is unchanged.

A scores file stands for one state of its run: the run's outputs (its records files, or for a
reference-tree folder its image files), the benchmark it was scored against and the samples
scored (what ``data.types / ids / limit`` left of them). The sidecar stores that state;
``table``, ``leaderboard`` and ``report`` compare it with the run as it is now, so a run that was
extended, redone or scored against another benchmark since is scored again instead of shown
with out-of-date numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from piebench.data.errors import SampleError
from piebench.data.pie_bench import IMAGE_DIR, Sample
from piebench.records import records_files
from piebench.scoring.runs import RunFolder


def outputs_digest(run: RunFolder) -> str:
    """SHA-256 of the run's records files (each attempt appends a line, so any new edit changes
    it), or, for a folder without records, of its image files' names, sizes and times."""
    digest = hashlib.sha256()
    files = sorted(records_files(run.path), key=lambda p: p.name)
    if files:
        for path in files:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    else:
        for path in sorted((run.path / IMAGE_DIR).rglob("*")):
            if path.is_file():
                stat = path.stat()
                digest.update(
                    f"{path.relative_to(run.path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
                )
    return digest.hexdigest()


def scoring_state(
    run: RunFolder, root: Path, samples: Sequence[tuple[str, Sample | SampleError | None]]
) -> dict[str, Any]:
    """The state a scoring of ``samples`` (id, and its benchmark entry, the entry's read error,
    or None when the selection left it out) of ``run`` against the benchmark at ``root``
    stands for."""
    selected = "\n".join(f"{sample_id} {sample is not None}" for sample_id, sample in samples)
    return {
        "outputs": outputs_digest(run),
        "benchmark": str(Path(root).expanduser().resolve()),
        "samples": hashlib.sha256(selected.encode()).hexdigest(),
    }


def state_difference(saved: Mapping[str, Any] | None, now: Mapping[str, Any]) -> str | None:
    """Why scores saved in state ``saved`` do not stand for ``now`` (None: they do)."""
    if not saved:
        return "saved without the run state they stand for (scored by an older harness)"
    if saved.get("outputs") != now["outputs"]:
        return "the run has new or redone samples since it was scored"
    if saved.get("benchmark") != now["benchmark"]:
        return f"scored against the benchmark at {saved.get('benchmark')}, now {now['benchmark']}"
    if saved.get("samples") != now["samples"]:
        return "scored another selection of samples (data.types / ids / limit)"
    return None
