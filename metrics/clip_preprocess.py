"""CLIP image preprocessing exactly as the reference's transformers 4.x ran it, in PIL + numpy.

The reference scored with torchmetrics' ``CLIPScore``, which hands uint8 (3,H,W) tensors to the
model's ``CLIPProcessor``. Under transformers 4.x that was the slow, PIL-based
``CLIPImageProcessor``:

1. resize with PIL so the short side is ``size`` (``shortest_edge``), the long side
   ``int(size * long / short)``, with the configured filter (bicubic for CLIP), uint8 in, uint8 out;
2. centre crop ``crop_size`` (offsets ``(new - crop) // 2``);
3. rescale: ``uint8 * rescale_factor`` (float64), then float32;
4. normalise: ``(x - mean) / std`` in float32.

transformers 5 defaults to a torchvision ("fast") processor whose resize differs, which moves
scores by up to 0.014. Doing the four steps here, with the parameters read from the model's
``preprocessor_config.json`` (or the ``image_processor`` section of the ``processor_config.json``
that transformers 5 saves), keeps the scores independent of the transformers version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers.utils import cached_file

from piebench.config_schema import ConfigError

# Where a model keeps its image settings: (file, section); transformers 4.x and the hub's CLIP
# models use the first, folders saved by transformers 5 the second.
CONFIG_FILES = (("preprocessor_config.json", None), ("processor_config.json", "image_processor"))
# Steps of the transformers processor; each must be on (the default) for PIE-Bench's recipe.
REQUIRED_STEPS = ("do_resize", "do_center_crop", "do_rescale", "do_normalize")


@dataclass(frozen=True)
class ClipImagePreprocess:
    """Resize (short side), centre crop, rescale and normalise uint8 images for CLIP."""

    shortest_edge: int
    crop_height: int
    crop_width: int
    resample: Image.Resampling
    rescale_factor: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        if max(self.crop_height, self.crop_width) > self.shortest_edge:
            raise ConfigError(
                f"CLIP crop {self.crop_height}x{self.crop_width} is larger than the resized short "
                f"side {self.shortest_edge}"
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ClipImagePreprocess:
        """From a ``preprocessor_config.json`` dict, old (``size: 224``) or new
        (``size: {shortest_edge: 224}``) style; a disabled step or another resize rule raises
        ``ValueError`` rather than being silently skipped."""
        off = [step for step in REQUIRED_STEPS if not config.get(step, True)]
        if off:
            raise ConfigError(f"CLIP preprocessing with {off[0]}=false is not supported")
        size, crop = config["size"], config["crop_size"]
        if isinstance(size, Mapping):
            if set(size) != {"shortest_edge"}:
                raise ConfigError(f"CLIP resize rule {size} is not supported (shortest_edge only)")
            size = size["shortest_edge"]
        crop_hw = (crop["height"], crop["width"]) if isinstance(crop, Mapping) else (crop, crop)
        return cls(
            shortest_edge=int(size),
            crop_height=int(crop_hw[0]),
            crop_width=int(crop_hw[1]),
            resample=Image.Resampling(int(config.get("resample", Image.Resampling.BICUBIC))),
            rescale_factor=float(config.get("rescale_factor", 1 / 255)),
            mean=tuple(float(v) for v in config["image_mean"]),
            std=tuple(float(v) for v in config["image_std"]),
        )

    @classmethod
    def load(cls, source: str) -> ClipImagePreprocess:
        """From a model folder or cached hub id (local files only); ``OSError`` when neither
        configuration file holds image settings."""
        for filename, section in CONFIG_FILES:
            try:
                path = cached_file(source, filename, local_files_only=True)
            except OSError:
                continue
            config = json.loads(Path(path).read_text(encoding="utf-8"))
            config = config.get(section) if section else config
            if config:
                return cls.from_config(config)
        files = " or ".join(filename for filename, _ in CONFIG_FILES)
        raise FileNotFoundError(f"{source}: no CLIP image settings ({files})")

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) after the short-side resize (transformers' ``shortest_edge`` rule)."""
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(self.shortest_edge * long / short)
        return (new_long, self.shortest_edge) if width <= height else (self.shortest_edge, new_long)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) uint8 -> (B,3,crop_h,crop_w) float32 pixel values for the CLIP vision tower."""
        if images.dtype != torch.uint8:
            raise ConfigError(f"CLIP images must be uint8 (0..255), got {images.dtype}")
        return torch.from_numpy(np.stack([self._one(image) for image in images.cpu()]))

    def _one(self, image: torch.Tensor) -> np.ndarray:
        height, width = self.resized_size(*image.shape[-2:])
        pil = Image.fromarray(image.permute(1, 2, 0).numpy())
        resized = np.asarray(pil.resize((width, height), resample=self.resample))
        top, left = (height - self.crop_height) // 2, (width - self.crop_width) // 2
        crop = resized[top : top + self.crop_height, left : left + self.crop_width]
        pixels = (crop * self.rescale_factor).astype(np.float32)
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        normalised = (pixels - mean) / std
        return np.ascontiguousarray(normalised.transpose(2, 0, 1))
