"""FID / KID maths against scipy on features from an injected extractor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from piebench.metrics.fid import build_inception, fid_from_features, kid_from_features
from piebench.metrics.weights import MissingWeightsError


def features(images: torch.Tensor) -> torch.Tensor:
    """A stand-in extractor: 4x4 average-pooled pixels (48-d)."""
    return torch.nn.functional.adaptive_avg_pool2d(images, 4).flatten(1)


def scipy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = linalg.sqrtm(cov_r @ cov_f).real
    return float(((mu_r - mu_f) ** 2).sum() + np.trace(cov_r + cov_f - 2 * root))


@pytest.fixture(scope="module")
def image_sets() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    real = torch.rand(80, 3, 16, 16, generator=g)
    fake = (real[:70] * 0.7 + 0.2 * torch.rand(70, 3, 16, 16, generator=g)).clamp(0, 1)
    return features(real), features(fake)


def test_fid_zero_for_identical_sets_and_matches_scipy(image_sets):
    real, fake = image_sets
    assert fid_from_features(real, real) == pytest.approx(0.0, abs=1e-6)
    expected = scipy_fid(real.double().numpy(), fake.double().numpy())
    assert expected > 0.1
    assert fid_from_features(real, fake) == pytest.approx(expected, rel=1e-4)
    assert np.isnan(fid_from_features(real[:1], fake))


def test_kid_is_reproducible_and_near_zero_for_identical_sets(image_sets):
    real, fake = image_sets
    first, second = (
        kid_from_features(real, fake, subsets=10, seed=3),
        kid_from_features(real, fake, subsets=10, seed=3),
    )
    assert first == second
    same, _ = kid_from_features(real, real, subsets=10)
    assert abs(same) < first[0]


def test_missing_inception_names_the_file_and_the_config_key(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(
        MissingWeightsError, match=r"inception_v3_google.*metrics\.fid\.inception_weights"
    ):
        build_inception(None)
