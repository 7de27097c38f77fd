"""SSIM in both library eras, against torchmetrics (installed: >= 1.4.2) and scikit-image.

2023 rule (torchmetrics <= 1.3.1): the map averaged without its 5-pixel border, variances not
clamped. Current rule (>= 1.4.2): the whole map, variances clamped at 0. scikit-image averages
without the border too (its map is only valid there), so it is the 2023 rule's reference; the
installed torchmetrics is the current rule's.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity
from torchmetrics.image import StructuralSimilarityIndexMeasure

from piebench.metrics.masked import region
from piebench.metrics.ssim import BORDER, gaussian_window, ssim, ssim_map

ERAS = {"2023": {"crop_border": True, "clamp_variance": False}}
ERAS["current"] = {"crop_border": False, "clamp_variance": True}
ALL_SETTINGS = [
    {"crop_border": crop, "clamp_variance": clamp}
    for crop, clamp in itertools.product((False, True), repeat=2)
]


def hwc(image: torch.Tensor) -> np.ndarray:
    return image.permute(1, 2, 0).double().numpy()


def skimage_ssim(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """scikit-image's Gaussian SSIM: the mean without the 5-pixel border, and the full map."""
    return structural_similarity(
        x,
        y,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1.0,
        channel_axis=2,
        full=True,
    )


@pytest.mark.parametrize("part", ["whole", "unedit_part"])
def test_parity_in_both_eras(pair, part):
    """The reference: both images times the region, SSIM over the frame."""
    source, edited, mask = pair
    r = region(mask, part)
    current = ssim(source, edited, r, "parity", **ERAS["current"])
    old = ssim(source, edited, r, "parity", **ERAS["2023"])
    for i in range(len(source)):
        x, y = source[i : i + 1] * r[i], edited[i : i + 1] * r[i]
        installed = StructuralSimilarityIndexMeasure(data_range=1.0)(x, y)
        assert current[i] == pytest.approx(float(installed), abs=1e-6)
        assert old[i] == pytest.approx(skimage_ssim(hwc(x[0]), hwc(y[0]))[0], abs=1e-6)
    assert torch.all((current - old).abs() > 1e-4)


@pytest.mark.parametrize("settings", ALL_SETTINGS)
def test_clean_is_the_scikit_image_map_averaged_over_the_region(pair, settings):
    """Away from the frame border (where padding rules differ) the SSIM maps agree."""
    source, edited, _ = pair
    interior = torch.zeros(len(source), 1, 48, 48)
    interior[..., 8:-8, 8:-8] = 1
    ours = ssim(source, edited, interior, "clean", **settings)
    for i in range(len(source)):
        _, full_map = skimage_ssim(hwc(source[i]), hwc(edited[i]))
        assert ours[i] == pytest.approx(full_map[8:-8, 8:-8].mean(), abs=1e-4)


def local_variance(image: torch.Tensor) -> torch.Tensor:
    """``E[x^2] - E[x]^2`` under the window, in float32, as torchmetrics computes it."""
    window = gaussian_window(image.shape[1], image.dtype, image.device)
    padded = F.pad(image, (BORDER,) * 4, mode="reflect")
    mean_of_square = F.conv2d(padded**2, window, groups=image.shape[1])
    return mean_of_square - F.conv2d(padded, window, groups=image.shape[1]) ** 2


def test_unclamped_variances_are_the_float32_ones():
    """Where an image is flat, float32 cancellation can make its local variance negative: the
    2023 rule keeps that value, the current one clamps it; elsewhere the maps are equal."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    x[..., :16] = 0.7  # a flat half: its float32 variance comes out slightly below 0
    negative = (local_variance(x) < 0) | (local_variance(y) < 0)
    assert negative.any()
    kept = ssim_map(x, y, clamp_variance=False)
    clamped = ssim_map(x, y, clamp_variance=True)
    assert torch.all(kept[negative] != clamped[negative])
    assert torch.equal(kept[~negative], clamped[~negative])


@pytest.mark.parametrize("mode", ["parity", "clean"])
@pytest.mark.parametrize("settings", ALL_SETTINGS)
def test_empty_region_is_nan_and_identical_images_are_perfect(pair, mode, settings):
    source, edited, _ = pair
    full_mask = torch.ones(len(source), 1, 48, 48)
    unedit = region(full_mask, "unedit_part")
    assert torch.isnan(ssim(source, edited, unedit, mode, **settings)).all()
    perfect = ssim(source, source, region(full_mask, "whole"), mode, **settings)
    assert torch.allclose(perfect, torch.ones(len(source)))
