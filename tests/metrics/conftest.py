"""Shared fixtures: tiny random metric networks (built once per session) and random images."""

from __future__ import annotations

import pytest
import torch

from piebench.metrics.networks import MetricNetworks
from tests.metrics.tiny_networks import tiny_metrics_cfg


@pytest.fixture(scope="session")
def tiny_cfg(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return tiny_metrics_cfg(tmp_path_factory.mktemp("tiny-nets"))


@pytest.fixture(scope="session")
def networks(tiny_cfg: dict) -> MetricNetworks:
    return MetricNetworks(tiny_cfg)


@pytest.fixture()
def pair() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(source, edited, mask): uint8-valued [0,1] float images (2,3,48,48), a rectangle mask."""
    g = torch.Generator().manual_seed(0)
    source = torch.randint(0, 256, (2, 3, 48, 48), generator=g).float() / 255
    noise = torch.randint(-40, 41, (2, 3, 48, 48), generator=g).float() / 255
    edited = (source + noise).clamp(0, 1).mul(255).round() / 255
    mask = torch.zeros(2, 1, 48, 48)
    mask[0, :, 10:30, 5:25] = 1
    mask[1, :, 20:48, 0:48] = 1
    return source, edited, mask
