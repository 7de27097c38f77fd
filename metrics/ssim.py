"""SSIM of an image pair over a region, with torchmetrics' map and each library era's reduction.

    SSIM = mean_R ssim_map(x, y)        Gaussian window 11 taps, sigma 1.5, K1 0.01, K2 0.03

The map is torchmetrics' (reflection padding by the window's half-width, so it has the input's
size; data_range 1). It is computed here rather than called from torchmetrics because two of its
details changed between the releases the reference was run with, and each changes the score:

* ``crop_border``: torchmetrics <= 1.4.1 averaged the map without its 5-pixel border (the
  padded part); >= 1.4.2 averages all of it. Up to 0.016 apart on PIE-Bench images.
* ``clamp_variance``: torchmetrics >= 1.3.2 clamps the local variances ``E[x^2] - E[x]^2`` at 0;
  before, float32 cancellation could leave them slightly negative (~1e-5 relative on JPEG edits).

The published tables used the 2023 rule (crop, no clamp), torchmetrics >= 1.4.2 the other one;
the metric profile (``profiles.py``) says which. ``mean_R`` is the mode's region rule
(``masked.restrict``), as for the other pixel metrics: parity multiplies both images by the
region and averages over the frame, clean averages the map over the region only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from piebench.metrics.masked import Mode, nan_where_empty, region_mean, restrict

WINDOW = 11  # torchmetrics' Gaussian window for sigma 1.5: int(3.5 * sigma + 0.5) * 2 + 1
SIGMA = 1.5
BORDER = (WINDOW - 1) // 2  # the padding; torchmetrics <= 1.4.1 left it out of the mean
K1, K2 = 0.01, 0.03


def gaussian_window(channels: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(C,1,11,11) normalised separable Gaussian, built as torchmetrics builds it."""
    dist = torch.arange((1 - WINDOW) / 2, (1 + WINDOW) / 2, 1, dtype=dtype, device=device)
    gauss = torch.exp(-((dist / SIGMA) ** 2) / 2)
    gauss = (gauss / gauss.sum())[None]
    return (gauss.T @ gauss).expand(channels, 1, WINDOW, WINDOW)


def ssim_map(x: torch.Tensor, y: torch.Tensor, *, clamp_variance: bool) -> torch.Tensor:
    """(B,C,H,W) SSIM map of two (B,C,H,W) images in [0,1] (data_range 1)."""
    channels = x.shape[1]
    window = gaussian_window(channels, x.dtype, x.device)
    x = F.pad(x, (BORDER,) * 4, mode="reflect")
    y = F.pad(y, (BORDER,) * 4, mode="reflect")
    stats = F.conv2d(torch.cat((x, y, x * x, y * y, x * y)), window, groups=channels)
    mu_x, mu_y, xx, yy, xy = stats.split(x.shape[0])
    var_x, var_y = xx - mu_x.pow(2), yy - mu_y.pow(2)
    if clamp_variance:
        var_x, var_y = var_x.clamp(min=0.0), var_y.clamp(min=0.0)
    c1, c2 = K1**2, K2**2
    upper = 2 * (xy - mu_x * mu_y) + c2
    lower = var_x + var_y + c2
    return ((2 * mu_x * mu_y + c1) * upper) / ((mu_x.pow(2) + mu_y.pow(2) + c1) * lower)


def ssim(
    source: torch.Tensor,
    edited: torch.Tensor,
    region: torch.Tensor,
    mode: Mode,
    *,
    crop_border: bool,
    clamp_variance: bool,
) -> torch.Tensor:
    """(B,) SSIM of [0,1] image pairs over a (B,1,H,W) region, NaN where it is empty; the era
    settings as in the module docstring."""
    x, y, weights = restrict(source, edited, region, mode)
    values = ssim_map(x, y, clamp_variance=clamp_variance)
    if crop_border:
        values = values[..., BORDER:-BORDER, BORDER:-BORDER]
        if weights is not None:
            weights = weights[..., BORDER:-BORDER, BORDER:-BORDER]
    return nan_where_empty(region_mean(values, weights), region)
