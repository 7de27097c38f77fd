"""Image preparation exactly as the reference's ``load_512``: any mode converted to RGB, the
centre square cropped with the reference's integer offset, then a PIL resize (bicubic, PIL's
default for RGB) to the working resolution (512 in the benchmark)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from piebench.data.errors import SampleError


def centre_square(image: np.ndarray) -> np.ndarray:
    """Crop the centre square of an (H, W, C) array; offset = (long - short) // 2."""
    h, w = image.shape[:2]
    if h < w:
        offset = (w - h) // 2
        return image[:, offset : offset + h]
    if w < h:
        offset = (h - w) // 2
        return image[offset : offset + w]
    return image


def prepare_image(image: Image.Image, resolution: int = 512) -> np.ndarray:
    """Return the prepared (resolution, resolution, 3) ``uint8`` RGB array of a PIL image."""
    rgb = np.asarray(image.convert("RGB"))
    square = Image.fromarray(np.ascontiguousarray(centre_square(rgb)))
    return np.asarray(square.resize((resolution, resolution), Image.Resampling.BICUBIC))


def load_image(path: Path, sample_id: str, resolution: int = 512) -> np.ndarray:
    """Read and prepare one benchmark image, raising ``SampleError`` naming the sample."""
    if not path.is_file():
        raise SampleError(sample_id, "image_path", f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            return prepare_image(image, resolution)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise SampleError(sample_id, "image_path", f"unreadable image {path}: {err}") from err
