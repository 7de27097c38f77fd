"""pix2pix-zero's edited images against the reference implementation's own outputs (README
section 8): both inversions on sample 000000000000, run as a user would (the runner in-process, the
parity checkpoint as a local diffusers folder, 512 px, 50 steps, lossless PNG, the default
``caption=source_prompt``: the fixtures replaced BLIP's caption by the source prompt).

Bounds (issue 10): PSNR >= 45 dB and mean |difference| <= 0.5 grey levels; the gradient steps
through the attention maps amplify float rounding (fused vs explicit self-attention, summation
order), so no bound on single values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.parity.conftest import agreement, reference_panel
from tests.parity.test_p2p_image_parity import run_like_a_user

SAMPLE = "000000000000"
CASES = {"ddim": "ddim+pix2pix-zero", "direct": "directinversion+pix2pix-zero"}


@pytest.mark.xfail(
    strict=True,
    reason="issue 10 open: inversion + pass 1 differ from the reference (recon panel ~26 dB); "
    "clip_sample, the VAE sample and the grid were checked",
)
@pytest.mark.parametrize("inversion", list(CASES))
def test_edited_image_matches_the_reference(
    inversion: str, parity_dir: Path, tmp_path: Path
) -> None:
    run_dir = run_like_a_user(
        parity_dir, tmp_path, "pix2pix_zero", [SAMPLE], f"method.inversion={inversion}"
    )
    (output,) = sorted((run_dir / "annotation_images").rglob("*.png"))
    image_path = str(output.relative_to(run_dir / "annotation_images").with_suffix(".jpg"))
    ours = np.asarray(Image.open(output).convert("RGB"))
    found = agreement(ours, reference_panel(parity_dir, CASES[inversion], image_path))
    assert found.within(45.0, 0.5, None), f"{inversion}: {found}"
