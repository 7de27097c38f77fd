"""Tiny random metric networks of the real architectures, saved where the config points.

Each builder seeds torch, builds the network in code (no download) and writes it in the format
the real weights come in, so tests load it through the same config keys as users do.
"""

from __future__ import annotations

from pathlib import Path

import torch
from timm.models.vision_transformer import VisionTransformer
from torchvision.models import inception_v3, squeezenet1_1
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

from piebench.models.tokenizer import build_clip_tokenizer

TINY_DINO_ARCH = {"patch_size": 8, "embed_dim": 48, "depth": 3, "num_heads": 4, "img_size": 64}
_TINY_LAYERS = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
}
# CLIPConfig keyword arguments: 2 layers, 32x32 images, the real vocabulary and 77 positions
TINY_CLIP_CONFIG = {
    "text_config": {**_TINY_LAYERS, "vocab_size": 49408, "max_position_embeddings": 77},
    "vision_config": {**_TINY_LAYERS, "image_size": 32, "patch_size": 8},
    "projection_dim": 16,
}


def save_tiny_clip(folder: Path) -> Path:
    """A 2-layer CLIPModel (32x32 images) + processor with the real CLIP tokenizer."""
    torch.manual_seed(0)
    CLIPModel(CLIPConfig(**TINY_CLIP_CONFIG)).save_pretrained(folder)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    CLIPProcessor(
        image_processor=image_processor, tokenizer=build_clip_tokenizer()
    ).save_pretrained(folder)
    return folder


def tiny_dino() -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(**TINY_DINO_ARCH, num_classes=0).eval()


def save_tiny_dino(file: Path) -> Path:
    """A tiny ViT state dict under the official DINO names (with DINO's ``backbone.`` prefix)."""
    torch.save({"backbone." + k: v for k, v in tiny_dino().state_dict().items()}, file)
    return file


def save_random_squeezenet(file: Path) -> Path:
    """A randomly initialised torchvision ``squeezenet1_1`` state dict (the LPIPS backbone)."""
    torch.manual_seed(0)
    torch.save(squeezenet1_1(weights=None).state_dict(), file)
    return file


def save_random_fid_inception(file: Path) -> Path:
    """A random state dict of the FID Inception saved as the real file is.

    torchvision's Inception-v3 with the TF graph's 1008 classes and no aux head has exactly the
    FID network's parameter names and shapes (the FID port differs only in pooling, which has no
    parameters). Batch-norm statistics are set from one random batch so activations neither
    vanish nor explode and the features depend on the image.
    """
    torch.manual_seed(0)
    network = inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    for layer in network.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.momentum = 1.0
    with torch.no_grad():
        network.train()(torch.randn(2, 3, 299, 299))
    torch.save(network.state_dict(), file)
    return file


def tiny_metrics_cfg(folder: Path, mode: str = "parity") -> dict:
    """A ``metrics`` config pointing every network at tiny random weights in ``folder``."""
    return {
        "mode": mode,
        "batch_size": 2,
        "device": "cpu",
        "clip": {"path": str(save_tiny_clip(folder / "clip"))},
        "dino": {
            "weights": str(save_tiny_dino(folder / "dino.pth")),
            "arch": TINY_DINO_ARCH,
            "resize": 64,
            "max_size": 480,
        },
        "lpips": {"backbone_weights": str(save_random_squeezenet(folder / "squeezenet.pth"))},
        "fid": {"enabled": False},
    }
