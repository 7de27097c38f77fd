"""The metric registry: PIE-Bench column name -> how to compute it on a batch of pairs.

Keys are exactly the reference's CSV column names (``psnr_unedit_part``,
``clip_similarity_target_image_edit_part``, ...). Pair metrics exist for the three regions:
``<family>`` (whole image), ``<family>_edit_part`` and ``<family>_unedit_part``; CLIP has the
reference's three scores. ``DEFAULT_METRICS`` is the reference's default set (Table 1). Each
computation receives the evaluation's ``MetricProfile`` (mode and library-era settings).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from piebench.metrics.clip_score import masked_uint8
from piebench.metrics.lpips_metric import lpips_distance
from piebench.metrics.masked import PARTS, Part, nan_where_empty, region
from piebench.metrics.networks import MetricNetworks
from piebench.metrics.pixel import mse, psnr
from piebench.metrics.profiles import MetricProfile
from piebench.metrics.ssim import ssim
from piebench.metrics.structure import structure_distance
from piebench.registry import Registry


@dataclass(frozen=True)
class PairBatch:
    """B (source, edited) pairs. Images float (B,3,H,W) in [0,1] decoded from uint8 files,
    mask (B,1,H,W) in {0,1} (1 = edited region), bracket-free prompts."""

    source: torch.Tensor
    edited: torch.Tensor
    mask: torch.Tensor
    source_prompts: list[str]
    target_prompts: list[str]

    @staticmethod
    def uint8(images: torch.Tensor) -> torch.Tensor:
        """Back to the exact uint8 values the images were decoded from."""
        return (images * 255).round().to(torch.uint8)


Compute = Callable[[MetricNetworks, PairBatch, MetricProfile], torch.Tensor]


@dataclass(frozen=True)
class MetricSpec:
    """One column: its computation, whether higher is better, and the paper's display scale."""

    name: str
    compute: Compute
    higher_is_better: bool
    paper_scale: float = 1.0
    network: str | None = None  # the ``MetricNetworks`` attribute it needs (None: pixels only)


METRICS: Registry[MetricSpec] = Registry("metric")
DEFAULT_METRICS: tuple[str, ...] = (
    "structure_distance",
    "psnr_unedit_part",
    "lpips_unedit_part",
    "mse_unedit_part",
    "ssim_unedit_part",
    "clip_similarity_source_image",
    "clip_similarity_target_image",
    "clip_similarity_target_image_edit_part",
)


def _pixel(
    fn: Callable, part: Part, nets: MetricNetworks, b: PairBatch, profile: MetricProfile
) -> torch.Tensor:
    return fn(b.source, b.edited, region(b.mask, part), profile.mode)


def _ssim(part: Part, nets: MetricNetworks, b: PairBatch, profile: MetricProfile) -> torch.Tensor:
    return ssim(
        b.source,
        b.edited,
        region(b.mask, part),
        profile.mode,
        crop_border=profile.ssim_crop_border,
        clamp_variance=profile.ssim_clamp_variance,
    )


def _lpips(part: Part, nets: MetricNetworks, b: PairBatch, profile: MetricProfile) -> torch.Tensor:
    return lpips_distance(nets.lpips, b.source, b.edited, region(b.mask, part), profile.mode)


def _structure(
    part: Part, nets: MetricNetworks, b: PairBatch, profile: MetricProfile
) -> torch.Tensor:
    r = region(b.mask, part)
    return structure_distance(
        nets.dino, b.source, b.edited, r, profile.mode, antialias=profile.dino_antialias
    )


def _clip_source(nets: MetricNetworks, b: PairBatch, profile: MetricProfile) -> torch.Tensor:
    return nets.clip.score(b.uint8(b.source), b.source_prompts)


def _clip_target(nets: MetricNetworks, b: PairBatch, profile: MetricProfile) -> torch.Tensor:
    return nets.clip.score(b.uint8(b.edited), b.target_prompts)


def _clip_target_edit_part(
    nets: MetricNetworks, b: PairBatch, profile: MetricProfile
) -> torch.Tensor:
    scores = nets.clip.score(masked_uint8(b.uint8(b.edited), b.mask), b.target_prompts)
    return nan_where_empty(scores, b.mask)


# family -> (compute(part, ...), higher is better, paper scale, network)
PAIR_FAMILIES: dict[str, tuple[Callable, bool, float, str | None]] = {
    "structure_distance": (_structure, False, 1e3, "dino"),
    "psnr": (functools.partial(_pixel, psnr), True, 1.0, None),
    "lpips": (_lpips, False, 1e3, "lpips"),
    "mse": (functools.partial(_pixel, mse), False, 1e4, None),
    "ssim": (_ssim, True, 1e2, None),
}
for _family, (_compute, _higher, _scale, _network) in PAIR_FAMILIES.items():
    for _part in PARTS:
        _name = _family if _part == "whole" else f"{_family}_{_part}"
        METRICS.register(_name)(
            MetricSpec(_name, functools.partial(_compute, _part), _higher, _scale, _network)
        )
for _name, _compute in (
    ("clip_similarity_source_image", _clip_source),
    ("clip_similarity_target_image", _clip_target),
    ("clip_similarity_target_image_edit_part", _clip_target_edit_part),
):
    METRICS.register(_name)(MetricSpec(_name, _compute, True, network="clip"))


def scale_of(column: str) -> float:
    """The paper's display scale of a metric column (1 for anything else)."""
    return METRICS.get(column).paper_scale if column in METRICS else 1.0
