"""Source images decoded and resized in DataLoader workers while the device edits the last batch.

The runner takes samples from this stream one at a time and cuts batches itself, because its
batch size can change during a run (``batch_size=auto``, halving after out-of-memory). A sample
whose image cannot be read arrives with its error message instead of an image, in its place in
the order, so the runner records it and goes on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from torch.utils.data import DataLoader, Dataset

from piebench.data.errors import SampleError
from piebench.data.pie_bench import Sample


@dataclass
class Loaded:
    """One sample's prepared source image, or why it has none."""

    sample: Sample
    image: np.ndarray | None
    error: str | None = None


class SourceImages(Dataset):
    """``samples[i]`` -> ``Loaded`` at ``resolution`` with the method's image ``fit``; read
    errors become ``Loaded.error``."""

    def __init__(self, samples: Sequence[Sample], resolution: int, fit: str) -> None:
        self.samples = list(samples)
        self.resolution = resolution
        self.fit = fit

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Loaded:
        sample = self.samples[index]
        try:
            return Loaded(sample, sample.load_image(self.resolution, self.fit))
        except SampleError as err:
            return Loaded(sample, None, str(err))


def _as_is(item: Loaded) -> Loaded:
    return item


def load_in_order(
    samples: Sequence[Sample], resolution: int, fit: str, workers: int
) -> Iterator[Loaded]:
    """Every sample's ``Loaded``, in the order of ``samples``; ``workers`` processes read ahead
    (0: read in this process, when asked)."""
    loader = DataLoader(
        SourceImages(samples, resolution, fit),
        batch_size=None,
        shuffle=False,
        num_workers=workers if samples else 0,
        collate_fn=_as_is,
    )
    yield from loader
