"""The P2P family's images against the reference implementation's own outputs (README section 6).

Each case runs ``piebench run`` in-process, as a user would (the runner, the method from the
registry, the parity checkpoint as a local diffusers folder, the parity PIE-Bench folder, 512 px,
50 steps, lossless PNG output), then compares every edited image with the reference's lossless
``__edited.png`` panel: PSNR >= 55 dB, mean |difference| <= 0.1 grey levels and at most 0.5 % of
values off by more than one level. For scale (fixture README): a different timestep grid gives
~17 dB, rounding instead of truncating ~51 dB.

Null-Text Inversion runs on its one reference sample; an early stop flipped by autograd
numerics is allowed down to 45 dB (README section 6).

One more case goes beyond the fixtures: sample 611000000000's image and mask with prompts and
blended words that carry a curly apostrophe (``a red square’s shadow ...``). The reference panel
(``data/curly_apostrophe_ddim_p2p_reference.png``) was made by the reference's DDIM + P2P in its
p2p environment with ftfy (diffusers 0.10.0, transformers 4.25.1, ftfy 6.3.1; same redirections as
the fixtures: CPU, local checkpoint, one thread). Measured here: 72.7 dB with the default
``method.text_cleaning=ftfy``; 14.1 dB with ``none`` (the apostrophe's other token ids).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from piebench.runner import Runner
from tests.conftest import compose_config
from tests.parity.conftest import agreement, parity_device, reference_panel

CASES = {  # our method -> (reference folder, sample ids, min PSNR, max mean, max fraction > 1)
    "ddim": ("ddim+p2p", None, 55.0, 0.1, 0.005),
    "direct": ("directinversion+p2p", None, 55.0, 0.1, 0.005),
    "npi": ("negative-prompt-inversion+p2p", None, 55.0, 0.1, 0.005),
    "nti": ("null-text-inversion+p2p", ["000000000000"], 45.0, 0.1, None),
}


def run_like_a_user(
    parity: Path,
    out: Path,
    method: str,
    ids: list[str] | None,
    *extra: str,
    data_root: Path | None = None,
) -> Path:
    overrides = [
        f"method={method}",
        "data=pie_bench",
        f"data.root={data_root or parity / 'data'}",
        f"model.path={parity / 'checkpoint' / 'tiny-sd-v1'}",
        f"model.device={parity_device()}",
        "image_format=png",
        f"output_dir={out}",
        "progress=false",
        "evaluate=false",
        *extra,
    ]
    if ids:
        overrides.append(f"data.ids=[{','.join(ids)}]")
    summary = Runner(compose_config(*overrides)).run()
    assert summary.failed == 0, summary.failures
    return summary.run_dir


@pytest.mark.parametrize("method", list(CASES))
def test_edited_images_match_the_reference(method: str, parity_dir: Path, tmp_path: Path) -> None:
    reference, ids, min_psnr, max_mean, max_frac = CASES[method]
    run_dir = run_like_a_user(parity_dir, tmp_path, method, ids)
    outputs = sorted((run_dir / "annotation_images").rglob("*.png"))
    expected = len(ids) if ids else 2
    assert len(outputs) == expected
    for path in outputs:
        image_path = str(path.relative_to(run_dir / "annotation_images").with_suffix(".jpg"))
        ours = np.asarray(Image.open(path).convert("RGB"))
        found = agreement(ours, reference_panel(parity_dir, reference, image_path))
        print(method, image_path, found)
        assert found.within(min_psnr, max_mean, max_frac), f"{method} {image_path}: {found}"


CURLY = {
    "original_prompt": "a red square’s shadow on a gray checkerboard",
    "editing_prompt": "a [blue] square’s shadow on a gray checkerboard",
    "blended_word": "square’s square’s",
}


def test_a_curly_apostrophe_prompt_matches_the_reference(parity_dir: Path, tmp_path: Path) -> None:
    source = json.loads((parity_dir / "data" / "mapping_file.json").read_text())["611000000000"]
    image = Path("annotation_images") / source["image_path"]
    (tmp_path / "data" / image).parent.mkdir(parents=True)
    shutil.copy(parity_dir / "data" / image, tmp_path / "data" / image)
    mapping = {"611000000001": {**source, **CURLY}}
    (tmp_path / "data" / "mapping_file.json").write_text(json.dumps(mapping), encoding="utf-8")
    run_dir = run_like_a_user(
        parity_dir, tmp_path / "out", "ddim", None, data_root=tmp_path / "data"
    )
    (path,) = (run_dir / "annotation_images").rglob("*.png")
    ours = np.asarray(Image.open(path).convert("RGB"))
    panel = Path(__file__).parent / "data" / "curly_apostrophe_ddim_p2p_reference.png"
    found = agreement(ours, np.asarray(Image.open(panel).convert("RGB")))
    assert found.within(55.0, 0.1, 0.005), found
