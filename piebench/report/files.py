"""File plumbing of the report folder: atomic writes, freshness checks and relative links.

The folder is rebuilt in place by every ``report`` call, so each file is written through a
temporary file and a rename (a killed call never leaves a half-written image or page) and the
costly ones (thumbnails, copies of full images) are skipped while they are newer than their
sources.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import quote

import numpy as np
from PIL import Image

from piebench.atomic_files import atomic_path


def save_jpeg(image: np.ndarray, path: Path, quality: int) -> None:
    """Write (H,W,3) uint8 as a JPEG via a temporary file and a rename."""
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="JPEG", quality=quality)


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
