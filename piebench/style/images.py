"""The style folder: which files are style images and how they are prepared.

Images are prepared like the benchmark's (``piebench.data.images.prepare_image``: RGB, centre
square crop, PIL bicubic resize to the model resolution), in file-name order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from piebench.config_schema import ConfigError
from piebench.data.images import prepare_image


def list_style_images(folder: Path, extensions: Sequence[str]) -> list[Path]:
    """Image files directly in ``folder`` with one of ``extensions`` (case-insensitive), sorted."""
    suffixes = {"." + e.lower().lstrip(".") for e in extensions}
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def load_style_images(paths: Sequence[Path], resolution: int) -> list[np.ndarray]:
    """(resolution, resolution, 3) uint8 arrays; an unreadable file is a ``ConfigError``."""
    out = []
    for path in paths:
        try:
            with Image.open(path) as image:
                out.append(prepare_image(image, resolution))
        except (UnidentifiedImageError, OSError) as err:
            raise ConfigError(f"style image {path}: unreadable ({err})") from None
    return out
