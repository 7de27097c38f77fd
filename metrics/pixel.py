"""Pixel metrics of an image pair over a region: MSE, PSNR (SSIM, with its era settings, is in
``ssim.py``).

Inputs are float (B,3,H,W) images in [0,1] (``data_range = 1``), a (B,1,H,W) region from
``masked.region`` and the scoring mode. Every function returns a (B,) tensor, NaN where the
region is empty.

    MSE  = mean_R (x - y)^2                       over the 3 channels
    PSNR = 10 log10(1 / MSE)                      (data_range 1; +inf for identical images)

``mean_R`` is the mode's region rule (``masked.restrict``): parity multiplies both images by
the region and averages over the frame (the reference's ``metric(x*R, y*R)``); clean averages
the per-pixel squared errors over the region only.
"""

from __future__ import annotations

import torch

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
