"""Per-sample Gaussian draws: each sample of a batch draws from its own CPU generator.

The reference resets the global seed before every image and draws on the CPU in float32, so
drawing each sample's noise from its own seeded CPU generator, in float32, and only then casting
and moving it, gives a batched run the same numbers as single-image runs on any device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def randn_per_sample(
    generators: Sequence[torch.Generator],
    shape: Sequence[int],
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(B, *shape) standard normal noise, row b drawn in float32 from ``generators[b]``."""
    rows = [torch.randn((1, *shape), generator=g, dtype=torch.float32) for g in generators]
    return torch.cat(rows).to(device=device, dtype=dtype)
