"""The metric networks at their real architectures with random weights: timing without weights.

``bench bench.metric_networks=random`` scores with these so that the cost of PIE-Bench's eight
metrics can be measured on a machine that cannot fetch CLIP ViT-L/14, DINO ViT-B/8 or the LPIPS
SqueezeNet (a lent GPU with no network, a fresh CI box). A network's cost does not depend on its
weight values, so the seconds are those of the real networks; the scores are noise, which is why
only ``bench`` (whose runs go to a temporary folder) offers this. FID is left out: it is not one
of the eight, and its Inception only loads from the real file.

Shapes are the published configurations: CLIP ViT-L/14 (``openai/clip-vit-large-patch14``'s
``config.json`` and ``preprocessor_config.json``), DINO ViT-B/8 (``metrics.dino.arch``) and
torchvision's ``squeezenet1_1`` behind LPIPS (whose linear heads ship in the ``lpips`` package and
are the real ones).
"""

from __future__ import annotations

import functools

import lpips
import torch
from PIL import Image
from transformers import CLIPConfig, CLIPModel

from piebench.metrics.clip_preprocess import ClipImagePreprocess
from piebench.metrics.clip_score import ClipScorer
from piebench.metrics.lpips_metric import lpips_squeeze
from piebench.metrics.networks import MetricNetworks
from piebench.metrics.structure import DinoArch, dino_vit
from piebench.models.tokenizer import build_clip_tokenizer

# openai/clip-vit-large-patch14: config.json (quick_gelu is CLIPConfig's default activation)
CLIP_VIT_L14 = {
    "text_config": {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "max_position_embeddings": 77,
        "vocab_size": 49408,
    },
    "vision_config": {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_attention_heads": 16,
        "num_hidden_layers": 24,
        "image_size": 224,
        "patch_size": 14,
    },
    "projection_dim": 768,
}


def clip_preprocess(image_size: int) -> ClipImagePreprocess:
    """``openai/clip-vit-large-patch14``'s ``preprocessor_config.json`` (bicubic short-side
    resize and centre crop to the vision tower's ``image_size``, OpenAI's mean and std)."""
    return ClipImagePreprocess(
        shortest_edge=image_size,
        crop_height=image_size,
        crop_width=image_size,
        resample=Image.Resampling.BICUBIC,
        rescale_factor=1 / 255,
        mean=(0.48145466, 0.4578275, 0.40821073),
        std=(0.26862954, 0.26130258, 0.27577711),
    )


class RandomMetricNetworks(MetricNetworks):
    """``MetricNetworks`` whose LPIPS, CLIP and DINO are random networks of the real shapes
    (``metrics.dino.arch`` and its resize settings are honoured; CLIP is ``clip_config``, which
    tests shrink). FID must be off: there is no random Inception."""

    clip_config: dict = CLIP_VIT_L14

    @functools.cached_property
    def lpips(self) -> lpips.LPIPS:
        return lpips_squeeze().to(self.device).eval().requires_grad_(False)

    @functools.cached_property
    def clip(self) -> ClipScorer:
        model = CLIPModel(CLIPConfig(**self.clip_config)).to(self.device)
        preprocess = clip_preprocess(int(self.clip_config["vision_config"]["image_size"]))
        return ClipScorer(model, build_clip_tokenizer(), preprocess)

    def _dino_backbone(self, weights: str | None, arch: DinoArch) -> torch.nn.Module:
        return dino_vit(arch).eval().requires_grad_(False)

    def sources(self) -> dict[str, dict[str, str]]:
        arch = dict(self._section("dino").get("arch") or {})
        real = super().sources()
        return {
            "clip": {**real["clip"], "clip": "random weights, CLIP ViT-L/14 shape"},
            "dino": {"dino": f"random weights, ViT {arch}"},
            "lpips": {"lpips_backbone": "random weights, squeezenet1_1 shape"},
        }
