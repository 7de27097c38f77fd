"""File plumbing of the report folder: atomic writes, freshness checks and relative links.

The folder is rebuilt in place by every ``report`` call, so each file is written through a
temporary file and a rename (a killed call never leaves a half-written image or page) and the
costly ones (thumbnails, copies of full images) are skipped while they are newer than their
sources.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import numpy as np
from PIL import Image

FILE_MODE = 0o666


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_jpeg(image: np.ndarray, path: Path, quality: int) -> None:
    """Write (H,W,3) uint8 as a JPEG via a temporary file and a rename."""
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="JPEG", quality=quality)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends
    without error, removed otherwise. The suffix is kept so writers can infer the format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE & ~_umask())  # mkstemp's 0600 would keep the folder private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(text: str, path: Path) -> None:
    """Write UTF-8 text to ``path`` via a temporary file and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def is_fresh(target: Path, *sources: Path) -> bool:
    """True when ``target`` exists and is at least as new as every source (nothing to redo)."""
    if not target.is_file():
        return False
    newest = max(source.stat().st_mtime for source in sources)
    return target.stat().st_mtime >= newest


def place_copy(source: Path, target: Path) -> None:
    """Put ``source`` at ``target`` (a hard link where the file system allows, else a copy that
    keeps the modification time), unless ``target`` is already a fresh copy."""
    if is_fresh(target, source) and target.stat().st_size == source.stat().st_size:
        return
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copy2(source, tmp)


def href(path: Path, root: Path) -> str:
    """A relative, URL-quoted link from ``root`` (the report folder) to ``path`` inside it."""
    return quote(path.relative_to(root).as_posix())
