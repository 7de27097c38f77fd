"""style fit: mu and sigma against numpy over the encoded latents, the sampler's statistics,
the artifact's summary, and the errors for too few or identical images."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from piebench.config_schema import ConfigError
from piebench.data.images import prepare_image
from piebench.models.sd import images_to_tensor
from piebench.style import fit
from piebench.style.config import run_dir
from piebench.style.fit import run_fit
from piebench.style.noise import StyleNoise


def test_mu_sigma_equal_numpy_over_the_encoded_latents(make_cfg, tiny_model, style_folder):
    cfg = make_cfg()
    noise = StyleNoise.load(run_fit(cfg, tiny_model))
    files = sorted(p for p in style_folder.iterdir() if p.suffix in (".jpg", ".png"))
    images = [prepare_image(Image.open(p), 64) for p in files]
    latents = tiny_model.encode_images(images_to_tensor(images)).double().numpy()
    assert noise.shape == (4, 8, 8)
    np.testing.assert_allclose(noise.mu.numpy(), latents.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(noise.sigma.numpy(), latents.std(0, ddof=1), rtol=1e-5, atol=1e-6)
    population = StyleNoise.load(run_fit(make_cfg("style.std_ddof=0"), tiny_model))
    np.testing.assert_allclose(population.sigma.numpy(), latents.std(0), rtol=1e-5, atol=1e-6)

    summary = json.loads((run_dir(cfg) / "noise.json").read_text())
    assert [i["name"] for i in summary["images"]] == [p.name for p in files]
    assert summary["images"][0]["sha256"] == hashlib.sha256(files[0].read_bytes()).hexdigest()
    assert (summary["model"], summary["resolution"], summary["n_images"]) == ("tiny", 64, 4)


def test_samples_have_the_artifact_statistics():
    g = np.random.default_rng(0)
    mu = g.normal(0, 1, (4, 8, 8)).astype(np.float32)
    sigma = g.uniform(0.3, 2.0, (4, 8, 8)).astype(np.float32)
    noise = StyleNoise(torch.from_numpy(mu), torch.from_numpy(sigma))
    n = 4000
    draws = noise.sample(range(n)).double().numpy()
    z_mean = (draws.mean(0) - mu) / (sigma / np.sqrt(n))
    assert np.abs(z_mean).max() < 5  # 256 elements, each within 5 standard errors
    ratio = draws.std(0, ddof=1) / sigma
    assert np.abs(ratio - 1).max() < 5 / np.sqrt(2 * n)
    shuffled = StyleNoise(noise.mu, noise.sigma.flip(0))
    assert np.abs(shuffled.sample(range(n)).double().numpy().std(0) / sigma - 1).max() > 0.1


def test_missing_or_too_few_images_fail_before_the_model_loads(make_cfg, tmp_path, monkeypatch):
    monkeypatch.setattr(fit, "load_model", lambda cfg: pytest.fail("the model was loaded"))
    lone = tmp_path / "lone"
    lone.mkdir()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(lone / "a.png")
    with pytest.raises(ConfigError, match=r"1 image\(s\).*at least 2"):
        run_fit(make_cfg(f"style.images={lone}"))
    with pytest.raises(ConfigError, match="style.images must be set"):
        run_fit(make_cfg("style.images=null", "style.name=unset"))


def test_identical_images_give_a_degenerate_sigma_error(make_cfg, tiny_model, tmp_path):
    twins = tmp_path / "twins"
    twins.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (64, 64), (10, 20, 30)).save(twins / name)
    with pytest.raises(ConfigError, match="degenerate style sigma.*identical"):
        run_fit(make_cfg(f"style.images={twins}"), tiny_model)
