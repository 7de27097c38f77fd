"""PSNR / MSE against scikit-image, numpy and the reference's torchmetrics calculator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio
from torchmetrics.image import PeakSignalNoiseRatio

from piebench.metrics.masked import region
from piebench.metrics.pixel import mse, psnr


def hwc(image: torch.Tensor) -> np.ndarray:
    return image.permute(1, 2, 0).double().numpy()


@pytest.mark.parametrize("mode", ["parity", "clean"])
def test_whole_image_matches_scikit_image(pair, mode):
    source, edited, mask = pair
    whole = region(mask, "whole")
    for i in range(len(source)):
        x, y = hwc(source[i]), hwc(edited[i])
        assert mse(source, edited, whole, mode)[i] == pytest.approx(
            mean_squared_error(x, y), rel=1e-5
        )
        assert psnr(source, edited, whole, mode)[i] == pytest.approx(
            peak_signal_noise_ratio(x, y, data_range=1.0), rel=1e-5
        )


def test_parity_unedit_reproduces_reference_formula(pair):
    """Reference: images (HWC, /255) times the 3-channel (1 - mask), metric over the frame."""
    source, edited, mask = pair
    unedit = region(mask, "unedit_part")
    for i in range(len(source)):
        keep = np.repeat(1 - mask[i, 0].numpy()[..., None], 3, axis=2)
        x, y = hwc(source[i]) * keep, hwc(edited[i]) * keep
        assert mse(source, edited, unedit, "parity")[i] == pytest.approx(
            np.mean((x - y) ** 2), rel=1e-5
        )
        tx = torch.tensor(x, dtype=torch.float32).permute(2, 0, 1)[None]
        ty = torch.tensor(y, dtype=torch.float32).permute(2, 0, 1)[None]
        expected_psnr = PeakSignalNoiseRatio(data_range=1.0)(tx, ty)
        assert psnr(source, edited, unedit, "parity")[i] == pytest.approx(
            float(expected_psnr), rel=1e-5
        )


def test_clean_is_the_mean_over_the_region(pair):
    source, edited, mask = pair
    for part in ("edit_part", "unedit_part"):
        r = region(mask, part)
        for i in range(len(source)):
            keep = r[i, 0].numpy().astype(bool)
            diff = (hwc(source[i]) - hwc(edited[i]))[keep]
            expected = np.mean(diff**2)
            assert mse(source, edited, r, "clean")[i] == pytest.approx(expected, rel=1e-5)
            assert psnr(source, edited, r, "clean")[i] == pytest.approx(
                10 * np.log10(1 / expected), rel=1e-5
            )
        # a masked mean ignores the zeroed pixels parity counts: parity MSE is diluted
        assert torch.all(mse(source, edited, r, "parity") < mse(source, edited, r, "clean"))


@pytest.mark.parametrize("mode", ["parity", "clean"])
def test_empty_region_is_nan_and_identical_images_are_perfect(pair, mode):
    source, edited, _ = pair
    full_mask = torch.ones(len(source), 1, 48, 48)
    unedit = region(full_mask, "unedit_part")
    for fn in (mse, psnr):
        assert torch.isnan(fn(source, edited, unedit, mode)).all()
    whole = region(full_mask, "whole")
    assert torch.all(mse(source, source, whole, mode) == 0)
    assert torch.isinf(psnr(source, source, whole, mode)).all()
