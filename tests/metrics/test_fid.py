"""FID / KID maths against scipy and numpy on features from an injected extractor; the
standard FID Inception loader against torchmetrics' FID on a random state dict."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import linalg
from torchmetrics.image.fid import FrechetInceptionDistance
from torchvision.models import inception_v3

from piebench.config_schema import ConfigError
from piebench.metrics.fid import build_inception, fid_from_features, kid_from_features
from piebench.metrics.weights import MissingWeightsError
from tests.metrics.tiny_networks import save_random_fid_inception


def features(images: torch.Tensor) -> torch.Tensor:
    """A stand-in extractor: 4x4 average-pooled pixels (48-d)."""
    return torch.nn.functional.adaptive_avg_pool2d(images, 4).flatten(1)


def scipy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = linalg.sqrtm(cov_r @ cov_f).real
    return float(((mu_r - mu_f) ** 2).sum() + np.trace(cov_r + cov_f - 2 * root))


def numpy_kid(real: np.ndarray, fake: np.ndarray) -> float:
    """Unbiased MMD^2 (Binkowski et al. 2018) with k(x, y) = (x.y / d + 1)^3, equal-size sets."""
    m, d = real.shape
    k_rr, k_ff, k_rf = (
        (a @ b.T / d + 1) ** 3 for a, b in [(real, real), (fake, fake), (real, fake)]
    )
    off_diagonal = k_rr.sum() - np.trace(k_rr) + k_ff.sum() - np.trace(k_ff)
    return float(off_diagonal / (m * (m - 1)) - 2 * k_rf.sum() / m**2)


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


def test_fid_with_fewer_samples_than_dimensions_matches_scipy():
    """The sample-space trace (fewer images than feature dimensions) is the same FID."""
    g = torch.Generator().manual_seed(1)
    real = torch.randn(20, 64, generator=g, dtype=torch.float64)
    fake = torch.randn(30, 64, generator=g, dtype=torch.float64) * 1.3 + 0.2
    expected = scipy_fid(real.numpy(), fake.numpy())
    assert fid_from_features(real, fake) == pytest.approx(expected, rel=1e-6)
    assert fid_from_features(real, real) == pytest.approx(0.0, abs=1e-6)


def test_kid_is_reproducible_and_near_zero_for_identical_sets(image_sets):
    real, fake = image_sets
    first, second = (
        kid_from_features(real, fake, subsets=10, seed=3),
        kid_from_features(real, fake, subsets=10, seed=3),
    )
    assert first == second
    same, _ = kid_from_features(real, real, subsets=10)
    assert abs(same) < first[0]


def test_kid_on_all_samples_matches_numpy(image_sets):
    """One subset of every sample: the draw only permutes rows, so KID is the full-set MMD^2."""
    real, fake = image_sets[0][:70], image_sets[1]
    expected = numpy_kid(real.double().numpy(), fake.double().numpy())
    assert expected > 1e-3
    mean, std = kid_from_features(real, fake, subsets=1, subset_size=len(real), seed=5)
    assert mean == pytest.approx(expected, rel=1e-9)
    assert std == 0.0


def test_kid_subsets_are_seeded_draws_averaged_as_documented(image_sets):
    """Mean and (population) std over subsets drawn by ``torch.randperm`` after seeding ``seed``:
    per subset, ``subset_size`` real rows, then ``subset_size`` fake rows (torchmetrics' order)."""
    real, fake = (f.double() for f in image_sets)
    torch.manual_seed(7)
    draws = []
    for _ in range(4):
        rows_real, rows_fake = torch.randperm(len(real))[:20], torch.randperm(len(fake))[:20]
        draws.append(numpy_kid(real[rows_real].numpy(), fake[rows_fake].numpy()))
    torch.manual_seed(123)
    mean, std = kid_from_features(real, fake, subsets=4, subset_size=20, seed=7)
    assert (mean, std) == pytest.approx((np.mean(draws), np.std(draws)), rel=1e-9)
    after = torch.rand(3)  # the caller's RNG stream is left where it was
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(3))


def test_missing_inception_names_the_file_and_the_config_key(tmp_path, monkeypatch):
    """Nothing cached, or a configured path that does not exist: the error names the FID
    Inception's file, where to get it and the key to set, instead of a download attempt."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    key = r"metrics\.fid\.inception_weights"
    with pytest.raises(
        MissingWeightsError, match=rf"pt_inception-2015-12-05-6726825d\.pth.*pytorch-fid.*{key}"
    ):
        build_inception(None)
    missing = tmp_path / "inception.pth"
    with pytest.raises(MissingWeightsError, match=rf"{re.escape(str(missing))}.*{key}"):
        build_inception(missing)


def test_torchvision_imagenet_inception_is_refused(tmp_path):
    """torchvision's ImageNet Inception-v3 (1000 classes) is not the FID network."""
    torch.manual_seed(0)
    path = tmp_path / "inception_v3_google.pth"
    torch.save(inception_v3(weights=None, aux_logits=False, init_weights=False).state_dict(), path)
    with pytest.raises(MissingWeightsError, match="not the FID Inception"):
        build_inception(path)


def test_unknown_resize_mode_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"metrics\.fid\.resize='bicubic'.*tf_bilinear"):
        build_inception(tmp_path / "x.pth", resize="bicubic")


@pytest.fixture(scope="module")
def fid_weights(tmp_path_factory) -> Path:
    return save_random_fid_inception(tmp_path_factory.mktemp("fid") / "pt_inception.pth")


def test_features_are_torchmetrics_fid_features(fid_weights):
    """Our [0,1] images -> features equal what torchmetrics' FrechetInceptionDistance (the
    standard network with the same weights file and the TF-compatible resize) accumulates from
    the uint8 images; the antialiased resize gives other features (why the mode is recorded)."""
    g = torch.Generator().manual_seed(3)
    coarse = torch.randint(0, 256, (2, 3, 6, 5), generator=g, dtype=torch.uint8)
    images = torch.nn.functional.interpolate(coarse.float(), size=(48, 40), mode="bilinear")
    images = images.round().to(torch.uint8)
    with torch.no_grad():
        ours = build_inception(fid_weights, "tf_bilinear")(images.float() / 255).double()
        other = build_inception(fid_weights, "antialias_bilinear")(images.float() / 255).double()
    reference = FrechetInceptionDistance(
        feature=2048,
        feature_extractor_weights_path=str(fid_weights),
        antialias=False,  # torchmetrics' flag for the TF-compatible resize
    )
    reference.update(images, real=True)
    assert ours.shape == (2, 2048)
    assert (ours[0] - ours[1]).abs().mean() > 1e-3 * ours.abs().mean()
    assert (ours - other).abs().max() > 1e-3 * ours.abs().mean()
    torch.testing.assert_close(reference.real_features_sum, ours.sum(0), rtol=1e-4, atol=1e-4)


def test_an_unreadable_inception_file_is_named_not_a_traceback(tmp_path):
    cut = tmp_path / "inception.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, cut)
    cut.write_bytes(cut.read_bytes()[:100])  # a download cut short
    with pytest.raises(
        MissingWeightsError, match=r"inception\.pth \(not a readable state dict: RuntimeError"
    ):
        build_inception(cut)
