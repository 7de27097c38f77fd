"""Cross-attention maps as differentiable values: pix2pix-zero's cross-attention guidance compares
the maps of the edit pass with those of the reference pass and steps the latents down the
gradient of the difference.

``record_cross_attention(unet)`` installs a processor on every attention layer and yields a dict
that each UNet call fills with ``{layer name: probabilities (rows * heads, tokens, 77)}`` of every
cross-attention layer (``attn2``), computed explicitly (softmax(QK^T / sqrt(d))) as the reference
does, and kept in the autograd graph when the call runs with gradients. Self-attention layers need
no maps: they take the fused ``scaled_dot_product_attention`` path (gradients flow through it
too) unless ``explicit`` asks for the reference's explicit maths everywhere. The original
processors are restored on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import Attention

from piebench.p2p.layer_io import LayerInput, LayerProcessor, fused_attention

AttentionMaps = dict[str, torch.Tensor]


class CrossAttentionRecorder(LayerProcessor):
    """Attention of one layer; a cross-attention layer also stores its probabilities."""

    def __init__(self, name: str, maps: AttentionMaps, explicit: bool = False) -> None:
        self.name, self.maps, self.explicit = name, maps, explicit

    def attend(
        self, attn: Attention, inp: LayerInput, attention_mask: torch.Tensor | None
    ) -> torch.Tensor:
        if inp.is_cross or self.explicit:
            query, key, value = (attn.head_to_batch_dim(x) for x in (inp.query, inp.key, inp.value))
            mask = attn.prepare_attention_mask(attention_mask, inp.key.shape[1], inp.rows)
            probs = attn.get_attention_scores(query, key, mask)
            if inp.is_cross:
                self.maps[self.name] = probs
            return attn.batch_to_head_dim(torch.bmm(probs, value))
        return fused_attention(attn, inp, attention_mask)


@contextmanager
def record_cross_attention(
    unet: UNet2DConditionModel, explicit: bool = False
) -> Iterator[AttentionMaps]:
    """Install recorders on all attention layers; yields the maps of the latest UNet call."""
    original = unet.attn_processors
    maps: AttentionMaps = {}
    unet.set_attn_processor(
        {name: CrossAttentionRecorder(name, maps, explicit) for name in original}
    )
    try:
        yield maps
    finally:
        unet.set_attn_processor(original)
