"""Source image preparation as each reference editing script does it, for any input size.

Every fit converts to RGB first (the reference slices the first three channels: the same for RGB
and RGBA) and gives a (resolution, resolution, 3) ``uint8`` array. PIE-Bench's images are
512 x 512 already, so for them all fits give the file's pixels; they differ on other sizes:

- ``centre_crop``: P2P family ``load_512``: the centre square at the integer offset
  (long - short) // 2, then PIL's default resize (bicubic).
- ``centre_crop_rounded``: EDICT: the centre square as a float box, rounded by PIL's crop
  (half to even, so an odd-sized square can come out one pixel wider), then bicubic.
- ``stretch_bilinear``: Blended Latent Diffusion: the whole image resized, bilinear.
- ``stretch_lanczos``: pix2pix-zero: the whole image resized, Lanczos.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from piebench.data.errors import SampleError

BICUBIC = Image.Resampling.BICUBIC  # PIL's default resize filter for RGB
IMAGE_FITS = ("centre_crop", "centre_crop_rounded", "stretch_bilinear", "stretch_lanczos")


def _centre_box(image: Image.Image) -> tuple[float, float, float, float]:
    """The centre square as a float box: EDICT hands it to PIL's crop as it is (rounded half to
    even); ``load_512`` slices at its floor, the integer offset (long - short) // 2."""
    width, height = image.size
    side = min(width, height)
    return ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)


def _resize_horizontal_first(
    image: Image.Image, resolution: int, resample: Image.Resampling
) -> np.ndarray:
    """Resize as the reference's Pillow (9.5) did: the horizontal pass, then the vertical one.
    Pillow 10 and later do the vertical pass first when it reduces more (700 x 523 -> 512 x 512),
    which rounds and clips the in-between uint8 image otherwise: up to 40 grey levels apart on
    noise. Two one-axis resizes pin the old order; a square is resized the same either way."""
    wide = image.resize((resolution, image.height), resample)
    return np.asarray(wide.resize((resolution, resolution), resample))


def _fitted(rgb: Image.Image, fit: str) -> tuple[Image.Image, Image.Resampling]:
    """The part of the image a fit keeps, and the filter that brings it to size."""
    if fit == "centre_crop":
        return rgb.crop(tuple(math.floor(edge) for edge in _centre_box(rgb))), BICUBIC
    if fit == "centre_crop_rounded":
        return rgb.crop(_centre_box(rgb)), BICUBIC
    if fit == "stretch_bilinear":
        return rgb, Image.Resampling.BILINEAR
    if fit == "stretch_lanczos":
        return rgb, Image.Resampling.LANCZOS
    raise ValueError(f"unknown image fit {fit!r}; expected one of {', '.join(IMAGE_FITS)}")


def prepare_image(
    image: Image.Image, resolution: int = 512, fit: str = "centre_crop"
) -> np.ndarray:
    """Return the prepared (resolution, resolution, 3) ``uint8`` RGB array of a PIL image."""
    kept, resample = _fitted(image.convert("RGB"), fit)
    return _resize_horizontal_first(kept, resolution, resample)


def load_image(
    path: Path, sample_id: str, resolution: int = 512, fit: str = "centre_crop"
) -> np.ndarray:
    """Read and prepare one benchmark image (``fit``: see the module docstring), raising
    ``SampleError`` naming the sample."""
    if not path.is_file():
        raise SampleError(sample_id, "image_path", f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            return prepare_image(image, resolution, fit)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise SampleError(sample_id, "image_path", f"unreadable image {path}: {err}") from err
