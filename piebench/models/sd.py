"""The Stable Diffusion parts every method shares, behind one small batch-oriented contract.

Conventions: images float (B,3,H,W) in [0,1]; latents float32 (B,4,H/8,W/8) already multiplied by
the VAE scaling factor (0.18215 for SD 1.x); text embeddings (B,77,D) in the model dtype. The
UNet runs in the configured dtype; latents and the DDIM arithmetic stay in float32, as in the
reference's fp32 runs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from piebench.models.fast_path import autocast_context
from piebench.models.prompt_text import CleanedTokenizer

log = logging.getLogger(__name__)


@dataclass
class SDModel:
    """VAE, UNet, text encoder and tokenizer of one SD 1.x/2.x checkpoint on one device."""

    vae: AutoencoderKL
    unet: UNet2DConditionModel
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer | CleanedTokenizer  # a method's view cleans prompt text first
    device: torch.device
    dtype: torch.dtype
    name: str
    prediction_type: str = "epsilon"
    explicit_attention: bool = False  # every attention layer as softmax(QK^T)V, like the reference
    # the checkpoint's scheduler/scheduler_config.json ({} without one, e.g. the tiny model)
    scheduler_config: dict[str, Any] = field(default_factory=dict)
    autocast: torch.dtype | None = None  # the UNet under torch.autocast (fast path; None: off)

    def with_text_cleaning(self, cleaning: str) -> SDModel:
        """This model (the same networks) with prompts cleaned as ``cleaning`` says before BPE,
        as a reference environment's tokenizer did (see ``prompt_text``)."""
        raw = self.tokenizer
        if isinstance(raw, CleanedTokenizer):
            raw = raw.tokenizer
        return dataclasses.replace(self, tokenizer=CleanedTokenizer(raw, cleaning))

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def max_tokens(self) -> int:
        return int(self.tokenizer.model_max_length)

    def token_count(self, prompt: str) -> int:
        """Tokens of ``prompt`` including start/end tokens (77 fit; more are truncated)."""
        return len(self.tokenizer(prompt, truncation=False).input_ids)

    @torch.no_grad()
    def encode_prompts(
        self, prompts: Sequence[str], labels: Sequence[str] | None = None
    ) -> torch.Tensor:
        """(N,77,D) last hidden states; prompts over 77 tokens are truncated with a warning."""
        for i, prompt in enumerate(prompts):
            count = self.token_count(prompt)
            if count > self.max_tokens:
                who = f"sample {labels[i]}: " if labels else ""
                log.warning(
                    "%sprompt has %d tokens, truncated to %d: %r",
                    who,
                    count,
                    self.max_tokens,
                    prompt,
                )
        ids = self.tokenizer(
            list(prompts),
            padding="max_length",
            max_length=self.max_tokens,
            truncation=True,
            return_tensors="pt",
        ).input_ids.to(self.device)
        return self.text_encoder(ids)[0].to(self.dtype)

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Latents of (B,3,H,W) uint8 images: VAE posterior mean x scaling factor.

        uint8 input is mapped with x / 127.5 - 1 in float32, bit for bit as the reference does.
        """
        if images.dtype != torch.uint8:
            raise TypeError(f"encode_images takes uint8 images, got {images.dtype}")
        pixels = (images.float() / 127.5 - 1).to(self.device, self.dtype)
        latents = self.vae.encode(pixels).latent_dist.mean
        return latents.float() * self.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, rounding: bool = False) -> np.ndarray:
        """(B,H,W,3) uint8 images; like the P2P family's reference, [0,1] values are truncated,
        not rounded; ``rounding=True``: rounded, as diffusers pipelines' ``numpy_to_pil``.

        The latents are multiplied by ``1 / scaling_factor`` as the reference's ``latent2image``
        and pix2pix-zero pipeline do: dividing instead moves about a quarter of the float32
        latents by one ulp."""
        pixels = self.vae.decode((latents * (1 / self.scaling_factor)).to(self.dtype)).sample
        return to_uint8(pixels.float(), rounding)

    def predict(self, latents: torch.Tensor, t: int, context: torch.Tensor) -> torch.Tensor:
        """UNet output in the latents' dtype (float32, or float64 for EDICT's float64 view)."""
        with autocast_context(self.device, self.autocast):
            out = self.unet(latents.to(self.dtype), t, encoder_hidden_states=context).sample
        return out.to(latents.dtype)


def to_uint8(pixels: torch.Tensor, rounding: bool) -> np.ndarray:
    """(B,H,W,3) uint8 of (B,3,H,W) VAE output in [-1, 1]: ``(x / 2 + 0.5).clamp(0, 1) * 255`` in
    the pixels' own dtype (the reference's fp16 BLD does it in fp16), then rounded half to even
    (EDICT, BLD, pix2pix-zero) or truncated (the P2P family)."""
    values = (pixels / 2 + 0.5).clamp(0, 1) * 255
    values = values.round() if rounding else values.floor()
    return values.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def images_to_tensor(images: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack (H,W,3) uint8 arrays into a (B,3,H,W) uint8 tensor."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
