"""Regions of an image pair and how a metric is restricted to them (parity vs clean).

PIE-Bench scores three regions: the whole image, the edited part (mask = 1) and the unedited
part (mask = 0). Given the edit mask ``M`` (B,1,H,W) in {0,1}, the region is

    R = 1          (whole)        R = M   (edit_part)        R = 1 - M   (unedit_part)

and the two scoring modes differ in exactly one way, here:

* ``parity`` (the reference): both images are multiplied by ``R`` and the metric runs over the
  whole frame, so zeroed pixels count: ``metric(x * R, y * R)`` averaged uniformly.
* ``clean``: the images are left as they are and the metric's per-pixel map ``m`` is averaged
  over the region only: ``sum(m * R) / sum(R)`` (per channel alike).

(The other documented difference, DINO's input scale, lives in ``structure.py``.) In both modes
an empty region gives NaN, which table means exclude and count.
"""

from __future__ import annotations

from typing import Literal

import torch

from piebench.config_schema import ConfigError

Mode = Literal["parity", "clean"]
Part = Literal["whole", "edit_part", "unedit_part"]
MODES: tuple[Mode, ...] = ("parity", "clean")
PARTS: tuple[Part, ...] = ("whole", "edit_part", "unedit_part")


def check_mode(mode: str) -> Mode:
    if mode not in MODES:
        raise ConfigError(f"unknown metrics.mode '{mode}'; valid modes: {', '.join(MODES)}")
    return mode  # type: ignore[return-value]


def region(mask: torch.Tensor, part: Part) -> torch.Tensor:
    """The (B,1,H,W) float region ``R`` of ``part`` for an edit mask (1 = edited)."""
    mask = mask.float()
    if part == "whole":
        return torch.ones_like(mask)
    if part == "edit_part":
        return mask
    if part == "unedit_part":
        return 1.0 - mask
    raise ConfigError(f"unknown region '{part}'; valid regions: {', '.join(PARTS)}")


def is_empty(region_: torch.Tensor) -> torch.Tensor:
    """(B,) bool: the region holds no pixel (the metric is NaN there)."""
    return region_.flatten(1).sum(1) == 0


def restrict(
    source: torch.Tensor, edited: torch.Tensor, region_: torch.Tensor, mode: Mode
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Apply the mode's region rule to an image pair.

    Returns ``(source', edited', weights)``: parity multiplies both by the region and returns no
    weights (uniform mean over the frame); clean returns the images untouched and the region as
    the weights of the per-pixel mean.
    """
    if mode == "parity":
        return source * region_, edited * region_, None
    return source, edited, region_


def region_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Per-sample mean of ``values`` (B, ...) with optional ``weights`` broadcastable to it.

    ``weights=None`` is the plain mean over every element; otherwise
    ``sum(v * w) / sum(w)`` with ``w`` expanded to the shape of ``v`` (so a (B,1,H,W) region
    weighs all channels alike). An all-zero weight gives NaN.
    """
    flat = values.flatten(1)
    if weights is None:
        return flat.mean(1)
    w = weights.to(values.dtype).expand_as(values).flatten(1)
    return (flat * w).sum(1) / w.sum(1)


def nan_where_empty(values: torch.Tensor, region_: torch.Tensor) -> torch.Tensor:
    """Replace the value of every sample whose region is empty by NaN."""
    return torch.where(is_empty(region_).to(values.device), torch.nan, values)
