"""``image_format=strip`` stores the edit as the reference does, so scoring sees the reference's
pixels: the reference's lossless panels, laid out by ``reference_strip`` and written by the
runner's writer, decode (through the scorer's strip crop) to exactly the crop of the JPEG strip
the reference saved. A lone JPEG of the same edit decodes differently in column 0."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from piebench.atomic_files import write_image_atomic
from piebench.scoring.runs import read_edited
from piebench.strips import reference_strip
from tests.parity.conftest import reference_panel

SAMPLE = "0_random_140/000000000000.jpg"
METHODS = {  # reference folder: its strip's third panel (None: black)
    "ddim+p2p": "recon",
    "directinversion+p2p": "recon",
    "negative-prompt-inversion+p2p": "recon",
    "null-text-inversion+p2p": "recon",
    "ddim+pix2pix-zero": "recon",
    "directinversion+pix2pix-zero": "recon",
    "blended-latent-diffusion": None,
    "edict+direct_forward": "recon",
    "edict+p2p": "recon",
}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_strip_of_the_reference_panels_decodes_as_the_reference_strip(
    parity_dir, tmp_path, method
):
    edited = reference_panel(parity_dir, method, SAMPLE)
    beside = METHODS[method] and reference_panel(parity_dir, method, SAMPLE, METHODS[method])
    source = np.asarray(Image.open(parity_dir / "data" / "annotation_images" / SAMPLE))
    theirs = read_edited(
        parity_dir / "reference_outputs" / method / "annotation_images" / SAMPLE, (512, 512)
    )

    strip = tmp_path / "strip.jpg"
    write_image_atomic(reference_strip("a", "b", source, beside, edited), strip, 75)
    assert Image.open(strip).size == (2048, 512)
    np.testing.assert_array_equal(read_edited(strip, (512, 512)), theirs)

    alone = tmp_path / "alone.jpg"
    write_image_atomic(edited, alone, 75)
    differs = (read_edited(alone, (512, 512)) != theirs).any(axis=(0, 2))
    assert differs[0] and not differs[1:].any()
