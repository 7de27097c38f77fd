"""Atomic file writes: every output goes to a temporary file beside its target and is renamed
onto it, so a kill never leaves a truncated image, page or JSON file, and readers (or other
shards writing the same bytes) never see a partial one.

The temporary file gets the permissions a plain ``open`` would have given (0666 less the
umask): ``mkstemp``'s 0600 would make a run's images and manifest private to their owner on a
shared cluster.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

FILE_MODE = 0o666


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends
    without error, removed otherwise. The suffix is kept so writers can infer the format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image_atomic(image: np.ndarray, path: Path, quality: int = 75) -> None:
    """Write (H,W,3) uint8 as PNG (``.png``) or JPEG (anything else, at ``quality``)."""
    fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    options = {"quality": quality} if fmt == "JPEG" else {}
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format=fmt, **options)


def write_text_atomic(text: str, path: Path) -> None:
    """Write UTF-8 text."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(data: dict, path: Path) -> None:
    """Write JSON (indented; objects JSON does not know as their ``str``)."""
    write_text_atomic(json.dumps(data, indent=2, default=str), path)
