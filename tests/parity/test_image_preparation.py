"""Image preparation against the reference's ``load_512`` on sizes PIE-Bench's 512x512 files never
exercise: non-square (both orientations, odd differences) and larger/smaller than 512.

``data/load_512_reference.json`` holds SHA-256 digests of what the reference's ``load_512``
(``utils/utils.py`` @ 07f97f4, Pillow 9.5.0, numpy 1.26.4) returned for random uint8 images drawn
as the file says; the harness must return the same bytes (here under today's Pillow).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from piebench.data.images import prepare_image

REFERENCE = json.loads((Path(__file__).parent / "data" / "load_512_reference.json").read_text())


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
