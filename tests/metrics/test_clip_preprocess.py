"""CLIP image preprocessing = the transformers 4.x PIL processor, whatever transformers is installed.

The checks that matter: ours equals a direct PIL + numpy computation and transformers' PIL
backend, while the torchvision ("fast") backend that transformers 5 picks by default gives other
pixels on the same image, so a switch of processor cannot pass unnoticed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor

from piebench.metrics.clip_preprocess import ClipImagePreprocess

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
# openai/clip-vit-large-patch14's preprocessor_config.json (old style: sizes as plain ints).
OPENAI_CONFIG = {
    "crop_size": 224,
    "do_center_crop": True,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": MEAN,
    "image_std": STD,
    "resample": 3,
    "size": 224,
}


def crafted(height: int, width: int) -> torch.Tensor:
    """(1,3,H,W) uint8: one-pixel stripes plus noise, where resize filters disagree the most."""
    rng = np.random.default_rng(height * width)
    image = np.zeros((height, width, 3), np.int64)
    image[::2] = 255
    image[:, ::3, 1] = 200
    image = np.clip(image + rng.integers(-20, 21, image.shape), 0, 255).astype(np.uint8)
    return torch.from_numpy(image).permute(2, 0, 1)[None]


def by_hand(image: torch.Tensor) -> np.ndarray:
    """The 4.x processor's steps with PIL's own crop and float64 maths: (3,224,224)."""
    pil = Image.fromarray(image[0].permute(1, 2, 0).numpy())
    width, height = pil.size
    scale = 224 / min(width, height)
    size = (224, int(height * scale)) if width <= height else (int(width * scale), 224)
    resized = pil.resize(size, Image.Resampling.BICUBIC)
    left, top = (size[0] - 224) // 2, (size[1] - 224) // 2
    pixels = np.asarray(resized.crop((left, top, left + 224, top + 224)), np.float64) / 255
    return ((pixels - MEAN) / STD).transpose(2, 0, 1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip-preprocessor")
    (path / "preprocessor_config.json").write_text(json.dumps(OPENAI_CONFIG))
    return path


@pytest.mark.parametrize("shape", [(300, 517), (517, 300), (224, 224), (512, 512)])
def test_equals_a_direct_pil_computation(shape):
    image = crafted(*shape)
    ours = ClipImagePreprocess.from_config(OPENAI_CONFIG)(image)
    assert ours.shape == (1, 3, 224, 224) and ours.dtype == torch.float32
    np.testing.assert_allclose(ours[0].numpy(), by_hand(image), atol=1e-6, rtol=0)


def test_transformers_pil_backend_agrees_and_the_fast_one_does_not(folder):
    """``use_fast=False``: the slow PIL processor the reference ran (transformers 4.x default);
    ``use_fast=True``: torchvision, transformers 5's default. Ours is the first, exactly."""
    image = crafted(300, 517)
    ours = ClipImagePreprocess.load(str(folder))(image)
    slow = AutoImageProcessor.from_pretrained(folder, use_fast=False)
    fast = AutoImageProcessor.from_pretrained(folder, use_fast=True)
    slow_pixels = slow(images=list(image), return_tensors="pt")["pixel_values"]
    fast_pixels = fast(images=list(image), return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(ours, slow_pixels, atol=1e-6, rtol=0)
    assert (ours - fast_pixels).abs().max() > 1e-2


def test_old_and_new_config_styles_and_both_files_agree(tmp_path, folder):
    new_style = {
        **OPENAI_CONFIG,
        "size": {"shortest_edge": 224},
        "crop_size": {"height": 224, "width": 224},
    }
    (tmp_path / "processor_config.json").write_text(json.dumps({"image_processor": new_style}))
    old = ClipImagePreprocess.from_config(OPENAI_CONFIG)
    assert ClipImagePreprocess.from_config(new_style) == old
    assert ClipImagePreprocess.load(str(tmp_path)) == old  # transformers 5's saved layout
    assert ClipImagePreprocess.load(str(folder)) == old
    assert old.resample == Image.Resampling.BICUBIC and old.rescale_factor == 1 / 255


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"do_center_crop": False}, "do_center_crop=false"),
        ({"size": {"height": 224, "width": 224}}, "shortest_edge only"),
        ({"crop_size": 256}, "larger than the resized short side"),
    ],
)
def test_other_recipes_are_refused_not_approximated(change, message):
    with pytest.raises(ValueError, match=message):
        ClipImagePreprocess.from_config({**OPENAI_CONFIG, **change})


def test_missing_settings_and_float_images_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CLIP image settings"):
        ClipImagePreprocess.load(str(tmp_path))
    with pytest.raises(ValueError, match="uint8"):
        ClipImagePreprocess.from_config(OPENAI_CONFIG)(crafted(32, 32).float())
