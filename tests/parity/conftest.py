"""Fixtures for the reference-parity tests: the reference implementation's own outputs and
evaluator values on a tiny checkpoint (``../shared/parity``, see its README).

The folder comes from ``PIEBENCH_PARITY_DIR`` (default: ``shared/parity`` beside the repository
root). When it is absent every test that needs it is skipped with a message saying where it is
looked for; nothing here downloads anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PARITY_DIR = REPO_ROOT.parent / "shared" / "parity"


# The parity runs take minutes each (NTI ~10, the EDICT module ~10, the other P2P methods ~3 each
# at one thread): collected first, they start at once on different pytest-xdist workers, and
# the hundreds of short tests fill in around them, instead of NTI running alone at the end.
LONGEST_FIRST = (
    "tests/parity/test_p2p_image_parity.py::test_edited_images_match_the_reference[nti]",
    "tests/parity/test_edict_parity.py",
    "tests/parity/test_p2p_image_parity.py",
    "tests/parity/test_bld_parity.py",
    "tests/parity/",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the long parity runs to the front of the session, longest first (stable otherwise)."""

    def rank(item: pytest.Item) -> int:
        return next(
            (i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)),
            len(LONGEST_FIRST),
        )

    items.sort(key=rank)


def parity_root() -> Path:
    """The parity folder: ``$PIEBENCH_PARITY_DIR`` or ``../shared/parity`` beside the repo."""
    return Path(os.environ.get("PIEBENCH_PARITY_DIR", DEFAULT_PARITY_DIR)).expanduser()


def parity_device() -> str:
    """Where the parity runs compute: ``$PIEBENCH_TEST_DEVICE``, default ``cpu`` (the bounds are
    CPU float32 bounds; ``cuda`` on a GPU machine measures how far that device's kernels stay
    within them)."""
    return os.environ.get("PIEBENCH_TEST_DEVICE", "cpu")


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    root = parity_root()
    if not (root / "README.md").is_file() or not (root / "checkpoint").is_dir():
        pytest.skip(
            f"reference-parity fixtures not found at {root}: set PIEBENCH_PARITY_DIR to the "
            "folder holding checkpoint/, data/, reference_outputs/ and metrics/ "
            "(the project's shared/parity)"
        )
    return root


@dataclass(frozen=True)
class ImageAgreement:
    """How far an 8-bit image is from the reference's panel (README section 6 quantities)."""

    psnr_db: float
    mean_abs: float
    frac_off_by_more_than_one: float

    def within(self, min_psnr: float, max_mean: float, max_frac: float | None) -> bool:
        return (
            self.psnr_db >= min_psnr
            and self.mean_abs <= max_mean
            and (max_frac is None or self.frac_off_by_more_than_one <= max_frac)
        )


def agreement(ours: np.ndarray, reference: np.ndarray) -> ImageAgreement:
    """PSNR (data range 255), mean |difference| and the fraction of values off by more than
    one grey level, for two (H,W,3) uint8 images."""
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    diff = ours.astype(np.float64) - reference.astype(np.float64)
    mse = float((diff**2).mean())
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    return ImageAgreement(psnr, float(np.abs(diff).mean()), float((np.abs(diff) > 1).mean()))


def reference_panel(
    parity: Path, method: str, image_path: str, panel: str = "edited"
) -> np.ndarray:
    """The reference's lossless ``__edited`` / ``__recon`` panel of one sample, (H,W,3) uint8."""
    stem = Path(image_path).with_suffix("")
    path = parity / "reference_outputs" / method / "annotation_images" / f"{stem}__{panel}.png"
    return np.asarray(Image.open(path).convert("RGB"))
