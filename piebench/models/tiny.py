"""Randomly initialised models with Stable Diffusion v1's architecture, built in code.

Two sizes of one architecture (``SDShape``): the tiny model, which makes every code path run
offline on a CPU in seconds (its images are noise-like, which is all the tests need), and the
full SD-1.4 shape (``model=sd14_random``), for timing on a machine with no weights: a network's
cost does not depend on its weight values. Both have SD v1's block structure (VAE with 4 down
blocks = factor 8 and 4 latent channels; UNet with 3 cross-attention down blocks + 1 plain, a
cross-attention mid block, 1 plain + 3 cross-attention up blocks, 2 layers per block, so 16
cross-attention layers) and the real CLIP BPE tokenizer.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from piebench.models.tokenizer import build_clip_tokenizer


@dataclass(frozen=True)
class SDShape:
    """The sizes that distinguish one SD-v1-architecture model from another."""

    vae_channels: tuple[int, ...]
    vae_layers: int
    unet_channels: tuple[int, ...]
    heads: int  # attention heads per transformer block (diffusers' legacy attention_head_dim)
    text_dim: int  # text-encoder hidden size = UNet cross-attention dim
    text_layers: int
    text_heads: int
    text_intermediate: int
    norm_groups: int
    image_size: int


# CompVis/stable-diffusion-v1-4's unet/, vae/ and text_encoder/ configs (CLIP ViT-L/14's text tower)
SD14_SHAPE = SDShape(
    vae_channels=(128, 256, 512, 512),
    vae_layers=2,
    unet_channels=(320, 640, 1280, 1280),
    heads=8,
    text_dim=768,
    text_layers=12,
    text_heads=12,
    text_intermediate=3072,
    norm_groups=32,
    image_size=512,
)  # the text encoder's quick_gelu is CLIPTextConfig's default


def tiny_shape(cfg: Any) -> SDShape:
    """The tiny model's shape from the ``model.tiny`` config (width, text_dim, heads, image_size)."""
    width, text_dim = int(cfg.width), int(cfg.text_dim)
    return SDShape(
        vae_channels=(width,) * 4,
        vae_layers=1,
        unet_channels=(width, width, 2 * width, 2 * width),
        heads=int(cfg.heads),
        text_dim=text_dim,
        text_layers=2,
        text_heads=4,
        text_intermediate=2 * text_dim,
        norm_groups=min(8, width),
        image_size=int(cfg.image_size),
    )


def build_parts(
    shape: SDShape, seed: int = 0, device: torch.device | str | None = None
) -> dict[str, Any]:
    """VAE, UNet, text encoder and tokenizer of ``shape``; the same ``seed`` gives the same
    weights on the same device. ``device``: where the weights are created and initialised (None:
    the current default device). Initialising SD-1.4's billion parameters takes about 15 s on a
    2-core CPU; on a GPU it runs there instead of on the host's CPU."""
    tokenizer = build_clip_tokenizer()
    torch.manual_seed(seed)
    with torch.device(device) if device is not None else contextlib.nullcontext():
        return _build_networks(shape, tokenizer)


def _build_networks(shape: SDShape, tokenizer: Any) -> dict[str, Any]:
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=shape.vae_channels,
        layers_per_block=shape.vae_layers,
        latent_channels=4,
        norm_num_groups=shape.norm_groups,
        sample_size=shape.image_size,
    )
    unet = UNet2DConditionModel(
        sample_size=shape.image_size // 8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=shape.unet_channels,
        layers_per_block=2,
        cross_attention_dim=shape.text_dim,
        attention_head_dim=shape.heads,
        norm_num_groups=shape.norm_groups,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=shape.text_dim,
            intermediate_size=shape.text_intermediate,
            num_hidden_layers=shape.text_layers,
            num_attention_heads=shape.text_heads,
            max_position_embeddings=tokenizer.model_max_length,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    return {"vae": vae, "unet": unet, "text_encoder": text_encoder, "tokenizer": tokenizer}
