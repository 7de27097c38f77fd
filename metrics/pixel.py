"""Pixel metrics of an image pair over a region: MSE, PSNR, SSIM.

Inputs are float (B,3,H,W) images in [0,1] (``data_range = 1``), a (B,1,H,W) region from
``masked.region`` and the scoring mode. Every function returns a (B,) tensor, NaN where the
region is empty.

    MSE  = mean_R (x - y)^2                       over the 3 channels
    PSNR = 10 log10(1 / MSE)                      (data_range 1; +inf for identical images)
    SSIM = mean_R ssim_map(x, y)                  Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03

``mean_R`` is the mode's region rule (``masked.restrict``): parity multiplies both images by
the region and averages over the frame (the reference's ``metric(x*R, y*R)``); clean averages
the per-pixel map over the region only. The SSIM map is torchmetrics' (reflection padding, same
size as the input), so the parity value is exactly ``torchmetrics.StructuralSimilarityIndexMeasure
(data_range=1.0)`` on the multiplied images.
"""

from __future__ import annotations

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from piebench.metrics.masked import Mode, nan_where_empty, region_mean, restrict


def mse(
    source: torch.Tensor, edited: torch.Tensor, region: torch.Tensor, mode: Mode
) -> torch.Tensor:
    """(B,) mean squared error over the region (see module docstring)."""
    x, y, weights = restrict(source, edited, region, mode)
    return nan_where_empty(region_mean((x - y) ** 2, weights), region)


def psnr(
    source: torch.Tensor, edited: torch.Tensor, region: torch.Tensor, mode: Mode
) -> torch.Tensor:
    """(B,) peak signal-to-noise ratio in dB, ``10 log10(1 / MSE)`` with data_range 1."""
    return 10.0 * torch.log10(1.0 / mse(source, edited, region, mode))


def ssim(
    source: torch.Tensor, edited: torch.Tensor, region: torch.Tensor, mode: Mode
) -> torch.Tensor:
    """(B,) structural similarity (torchmetrics' defaults, data_range 1) over the region."""
    x, y, weights = restrict(source, edited, region, mode)
    _, ssim_map = structural_similarity_index_measure(
        x, y, data_range=1.0, reduction="none", return_full_image=True
    )
    return nan_where_empty(region_mean(ssim_map, weights), region)
