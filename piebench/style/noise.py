"""The style noise distribution N(mu, diag(sigma^2)) over SD latents, and its seeded sampler.

    x_T = mu + sigma * eps,   eps ~ N(0, I) drawn per image from a CPU generator seeded with the
                              image's seed

The N(0, I) baseline is the same sampler with mu = 0, sigma = 1 (``StyleNoise.standard``): the
same seed gives the same eps, so a style image and its baseline differ only in the distribution,
and the baseline's latents are bit for bit those of ``torch.randn`` with that seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from piebench.sampler.noise import randn_per_sample

NOISE_FILE = "noise.pt"


@dataclass(frozen=True)
class StyleNoise:
    """Per-element mean ``mu`` and standard deviation ``sigma``, both (4,h,w) float32."""

    mu: torch.Tensor
    sigma: torch.Tensor

    @classmethod
    def standard(cls, shape: Sequence[int]) -> StyleNoise:
        """N(0, I): the baseline."""
        return cls(torch.zeros(tuple(shape)), torch.ones(tuple(shape)))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.mu.shape)

    def sample(self, seeds: Sequence[int]) -> torch.Tensor:
        """(len(seeds),4,h,w) float32 CPU latents, one seeded draw per image."""
        eps = randn_per_sample([torch.Generator().manual_seed(int(s)) for s in seeds], self.shape)
        return self.mu + self.sigma * eps

    def save(self, path: Path) -> None:
        """Tensors only (``torch.load(weights_only=True)`` reads it back)."""
        torch.save({"mu": self.mu.float().cpu(), "sigma": self.sigma.float().cpu()}, path)

    @classmethod
    def load(cls, path: Path) -> StyleNoise:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return cls(state["mu"], state["sigma"])
