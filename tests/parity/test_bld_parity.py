"""Blended Latent Diffusion against the reference's own outputs (fixture README sections 4 and 6).

``piebench run method=bld`` runs in-process as a user would: the parity checkpoint as a local
folder in fp16 (the sd21base preset's dtype, as the reference), the parity PIE-Bench folder,
512 px, 50 steps (38 UNet calls from t = 740), PNG output. Each edit is compared with the
reference's lossless ``__edited.png``: PSNR >= 45 dB and mean |difference| <= 0.5 grey levels
(fp16 arithmetic on another library stack).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.parity.conftest import agreement, reference_panel
from tests.parity.test_p2p_image_parity import run_like_a_user


def test_bld_edits_match_the_reference(parity_dir: Path, tmp_path: Path) -> None:
    run_dir = run_like_a_user(parity_dir, tmp_path, "bld", None)
    outputs = sorted((run_dir / "annotation_images").rglob("*.png"))
    assert len(outputs) == 2
    for path in outputs:
        image_path = str(path.relative_to(run_dir / "annotation_images").with_suffix(".jpg"))
        ours = np.asarray(Image.open(path).convert("RGB"))
        reference = reference_panel(parity_dir, "blended-latent-diffusion", image_path)
        found = agreement(ours, reference)
        print(image_path, found)
        assert found.within(45.0, 0.5, None), f"bld {image_path}: {found}"
