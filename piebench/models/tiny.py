"""A tiny, randomly initialised model with Stable Diffusion v1's architecture, built in code.

Same block structure as SD v1 (VAE with 4 down blocks = factor 8 and 4 latent channels; UNet with
3 cross-attention down blocks + 1 plain, a cross-attention mid block, 1 plain + 3 cross-attention
up blocks, 2 layers per block, so 16 cross-attention layers like SD v1) at tiny widths, and the
real CLIP BPE tokenizer. It makes every code path run offline on a CPU in seconds; its images are
noise-like, which is all the tests need.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from piebench.models.tokenizer import build_clip_tokenizer


def build_tiny_parts(cfg: Any, seed: int = 0) -> dict[str, Any]:
    """VAE, UNet, text encoder and tokenizer; the same ``seed`` gives the same weights."""
    width, text_dim = int(cfg.width), int(cfg.text_dim)
    tokenizer = build_clip_tokenizer()
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(width,) * 4,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=min(8, width),
        sample_size=int(cfg.image_size),
    )
    unet = UNet2DConditionModel(
        sample_size=int(cfg.image_size) // 8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=(width, width, 2 * width, 2 * width),
        layers_per_block=2,
        cross_attention_dim=text_dim,
        attention_head_dim=int(cfg.heads),
        norm_num_groups=min(8, width),
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=text_dim,
            intermediate_size=2 * text_dim,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=tokenizer.model_max_length,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    return {"vae": vae, "unet": unet, "text_encoder": text_encoder, "tokenizer": tokenizer}
