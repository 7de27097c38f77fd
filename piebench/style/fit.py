"""``style fit``: the style noise from the style images (the paper's training-free step).

1. Prepare every style image (centre square, resize to ``style.resolution``).
2. Encode with the VAE: z_0 = posterior mode (mean) x scaling factor, (N,4,h,w).
3. mu = mean over images, sigma = standard deviation over images (``style.std_ddof``),
   per element of 4 x h x w.

Writes ``<run>/noise.pt`` (tensors) and ``<run>/noise.json`` (images with sha256, model,
resolution, settings, summary statistics).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from piebench.atomic_files import write_json_atomic
from piebench.config_schema import ConfigError
from piebench.models.loading import load_model
from piebench.models.sd import SDModel, images_to_tensor
from piebench.style.config import plain, run_dir, style_images_dir
from piebench.style.images import list_style_images, load_style_images
from piebench.style.noise import NOISE_FILE, StyleNoise
from piebench.style.provenance import image_digests

logger = logging.getLogger(__name__)

SUMMARY_FILE = "noise.json"


def encode_images(model: SDModel, images: Sequence[np.ndarray], batch_size: int) -> torch.Tensor:
    """(N,4,h,w) float32 CPU latents: VAE posterior mode x scaling factor, in batches."""
    chunks = [
        model.encode_images(images_to_tensor(images[i : i + batch_size])).cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(chunks)


def fit_noise(latents: torch.Tensor, ddof: int = 1, min_sigma: float = 0.0) -> StyleNoise:
    """Per-element mean and standard deviation over the image axis of (N,4,h,w) latents.

    Raises ``ConfigError`` for fewer than two images or a degenerate sigma (non-finite, or any
    element <= ``min_sigma``: e.g. identical images).
    """
    if len(latents) < 2:
        raise ConfigError(f"style fit needs at least 2 style images, got {len(latents)}")
    mu = latents.double().mean(0)
    sigma = latents.double().std(0, correction=ddof)
    low = int((~torch.isfinite(sigma) | (sigma <= min_sigma)).sum())
    if low:
        raise ConfigError(
            f"degenerate style sigma: {low} of {sigma.numel()} elements are <= {min_sigma} or not "
            "finite (are the style images identical?)"
        )
    return StyleNoise(mu.float(), sigma.float())


def style_image_paths(cfg: DictConfig) -> list[Path]:
    """The style folder's image files (at least two), checked before any model loads."""
    folder = style_images_dir(cfg)
    paths = list_style_images(folder, list(cfg.style.extensions))
    if len(paths) < 2:
        raise ConfigError(
            f"style.images={folder}: {len(paths)} image(s) with extensions "
            f"{list(cfg.style.extensions)}; style fit needs at least 2"
        )
    return paths


def style_latents(cfg: DictConfig, model: SDModel, paths: Sequence[Path]) -> torch.Tensor:
    """The style images' encoded latents."""
    images = load_style_images(list(paths), int(cfg.style.resolution))
    return encode_images(model, images, int(cfg.style.encode_batch_size))


def run_fit(cfg: DictConfig, model: SDModel | None = None) -> Path:
    """Fit and save the style noise; returns the artifact's path."""
    paths = style_image_paths(cfg)
    model = model or load_model(cfg.model)
    latents = style_latents(cfg, model, paths)
    noise = fit_noise(latents, int(cfg.style.std_ddof), float(cfg.style.min_sigma))
    out = run_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{NOISE_FILE}.tmp"
    noise.save(tmp)
    tmp.replace(out / NOISE_FILE)
    write_json_atomic(summary(cfg, model, paths, noise), out / SUMMARY_FILE)
    logger.info("style fit: %d images -> %s", len(paths), out / NOISE_FILE)
    return out / NOISE_FILE


def summary(
    cfg: DictConfig, model: SDModel, paths: Sequence[Path], noise: StyleNoise
) -> dict[str, Any]:
    return {
        "images": [{"name": n, "sha256": h} for n, h in image_digests(paths).items()],
        "n_images": len(paths),
        "style_folder": str(style_images_dir(cfg)),
        "model": model.name,
        "model_config": plain(cfg.model),
        "resolution": int(cfg.style.resolution),
        "latent_shape": list(noise.shape),
        "encoding": f"VAE posterior mode x scaling factor {model.scaling_factor}",
        "std_ddof": int(cfg.style.std_ddof),
        "mu_mean": float(noise.mu.mean()),
        "sigma_mean": float(noise.sigma.mean()),
        "sigma_min": float(noise.sigma.min()),
    }


def noise_file(cfg: DictConfig) -> Path:
    """The run's fitted noise file; a clear error when ``style fit`` has not run."""
    path = run_dir(cfg) / NOISE_FILE
    if not path.is_file():
        raise ConfigError(f"no style noise at {path}: run `python -m piebench style fit` first")
    return path


def check_fitted_on(cfg: DictConfig, images: Mapping[str, str]) -> None:
    """A ``ConfigError`` when the style folder's images (``provenance.image_digests``) are not
    those ``style fit`` fitted the noise on (``noise.json``): fine-tuning on other images than
    the noise describes would mix two styles."""
    summary_path = run_dir(cfg) / SUMMARY_FILE
    if not summary_path.is_file():
        return
    listed = json.loads(summary_path.read_text(encoding="utf-8"))["images"]
    fitted = {image["name"]: image["sha256"] for image in listed}
    if fitted != dict(images):
        changed = sum(fitted.get(name) != sha for name, sha in images.items())
        raise ConfigError(
            f"the images in {style_images_dir(cfg)} changed since `style fit` ({len(fitted)} "
            f"fitted, {len(images)} now, {changed} new or changed): run `style fit` again"
        )


def load_fitted(cfg: DictConfig) -> StyleNoise:
    """The run's fitted noise (``noise_file``)."""
    return StyleNoise.load(noise_file(cfg))
