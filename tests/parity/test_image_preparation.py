"""Image preparation against the reference's loading code on sizes PIE-Bench's 512x512 files never
exercise: non-square (both orientations, odd differences) and larger/smaller than 512.

``data/load_512_reference.json`` holds SHA-256 digests of what the reference's ``load_512``
(``utils/utils.py`` @ 07f97f4, Pillow 9.5.0, numpy 1.26.4) returned for random uint8 images drawn
as the file says; ``data/image_fits_reference.json`` the same for the loading lines of the BLD,
pix2pix-zero and EDICT scripts (each method's ``image_fit``). The harness must return the same
bytes, here under today's Pillow, whose two-pass resize order differs from 9.5's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from piebench.data.images import prepare_image

REFERENCE = json.loads((Path(__file__).parent / "data" / "load_512_reference.json").read_text())
FITS = json.loads((Path(__file__).parent / "data" / "image_fits_reference.json").read_text())
FIT_NAMES = ("stretch_bilinear", "stretch_lanczos", "centre_crop_rounded")


def digest(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def test_prepared_images_equal_the_reference_bytes() -> None:
    rng = np.random.default_rng(REFERENCE["seed"])
    for row in REFERENCE["images"]:
        pixels = rng.integers(0, 256, size=(row["height"], row["width"], 3), dtype=np.uint8)
        ours = prepare_image(Image.fromarray(pixels), 512)
        digest = hashlib.sha256(np.ascontiguousarray(ours).tobytes()).hexdigest()
        assert (list(ours.shape), digest) == (row["shape"], row["sha256"]), row


def test_the_digests_catch_an_off_by_one_crop() -> None:
    """A crop offset rounded up instead of down for an odd difference gives other bytes."""
    rng = np.random.default_rng(REFERENCE["seed"])
    row = REFERENCE["images"][0]  # 700 x 523: offset (700 - 523) // 2 = 88, not 89
    pixels = rng.integers(0, 256, size=(row["height"], row["width"], 3), dtype=np.uint8)
    shifted = Image.fromarray(pixels[89 : 89 + 523]).resize((512, 512), Image.Resampling.BICUBIC)
    digest = hashlib.sha256(np.asarray(shifted).tobytes()).hexdigest()
    assert digest != row["sha256"]
    aligned = Image.fromarray(pixels[88 : 88 + 523]).resize((512, 512), Image.Resampling.BICUBIC)
    assert hashlib.sha256(np.asarray(aligned).tobytes()).hexdigest() == row["sha256"]


@pytest.mark.parametrize("fit", FIT_NAMES)
def test_each_methods_image_fit_equals_its_reference_script_bytes(fit: str) -> None:
    rng = np.random.default_rng(FITS["seed"])
    for row in FITS["images"]:
        pixels = rng.integers(0, 256, size=(row["height"], row["width"], 3), dtype=np.uint8)
        ours = prepare_image(Image.fromarray(pixels), 512, fit)
        assert [list(ours.shape), digest(ours)] == [row[fit]["shape"], row[fit]["sha256"]], row


def test_the_fit_digests_catch_the_resize_pass_order() -> None:
    """700 x 523 stretched: vertical pass first (what Pillow >= 10 picks there) gives other bytes
    than the reference Pillow's horizontal-first order, for every filter."""
    rng = np.random.default_rng(FITS["seed"])
    row = FITS["images"][0]
    pixels = Image.fromarray(rng.integers(0, 256, size=(700, 523, 3), dtype=np.uint8))
    assert (row["height"], row["width"]) == (700, 523)
    for fit, resample in (
        ("stretch_bilinear", Image.Resampling.BILINEAR),
        ("stretch_lanczos", Image.Resampling.LANCZOS),
    ):
        tall = pixels.resize((523, 512), resample).resize((512, 512), resample)
        wide = pixels.resize((512, 700), resample).resize((512, 512), resample)
        assert digest(np.asarray(tall)) != row[fit]["sha256"]
        assert digest(np.asarray(wide)) == row[fit]["sha256"]


def test_every_fit_keeps_a_512_file_as_it_is() -> None:
    """PIE-Bench's own files are 512 x 512: every method then edits the file's pixels."""
    pixels = np.random.default_rng(3).integers(0, 256, size=(512, 512, 3), dtype=np.uint8)
    for fit in ("centre_crop", *FIT_NAMES):
        np.testing.assert_array_equal(prepare_image(Image.fromarray(pixels), 512, fit), pixels)
