"""One attention processor that hands attention probabilities to a P2P controller, and a context
manager that installs it on every attention layer of a UNet and always restores the originals.

Layers whose probabilities the controller does not need at this step take the fused
``scaled_dot_product_attention`` path, so the 64x64 self-attention layers of SD stay fast, unless
``explicit`` asks for the reference's explicit softmax(QK^T) V on every layer
(``model.attention=explicit``: slower, but free of the fused kernel's different rounding).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import Attention

from piebench.p2p.controller import P2PController
from piebench.p2p.layer_io import LayerInput, LayerProcessor, fused_attention


def _place(layer_name: str) -> str:
    """'down', 'mid' or 'up' from a processor name like 'down_blocks.1.attentions.0...'."""
    return layer_name.split("_", 1)[0]


class P2PAttnProcessor(LayerProcessor):
    """Attention for SD's transformer blocks with P2P control of the conditional half."""

    def __init__(self, controller: P2PController, place: str, explicit: bool = False) -> None:
        self.controller = controller
        self.place = place
        self.explicit = explicit

    def attend(
        self, attn: Attention, inp: LayerInput, attention_mask: torch.Tensor | None
    ) -> torch.Tensor:
        rows, tokens, is_cross = inp.rows, inp.tokens, inp.is_cross
        query, key, value = inp.query, inp.key, inp.value
        controlled = self.controller.wants_probs(is_cross, tokens)
        if controlled or self.explicit:
            query, key, value = (attn.head_to_batch_dim(x) for x in (query, key, value))
            mask = attn.prepare_attention_mask(attention_mask, inp.key.shape[1], rows)
            probs = attn.get_attention_scores(query, key, mask)
            if controlled:
                probs = probs.view(rows, attn.heads, tokens, -1)
                half = rows // 2
                cond = probs[half:].reshape(half // 2, 2, attn.heads, tokens, -1)
                # the controller's mappers are float32: back to the layer's dtype (fp16/bf16 runs)
                edited = self.controller.edit(cond, is_cross, self.place).to(probs.dtype)
                probs = torch.cat([probs[:half], edited.flatten(0, 1)]).flatten(0, 1)
            return attn.batch_to_head_dim(torch.bmm(probs, value))
        return fused_attention(attn, inp, attention_mask)


@contextmanager
def attention_control(
    unet: UNet2DConditionModel, controller: P2PController, explicit: bool = False
) -> Iterator[None]:
    """Install P2P processors on all attention layers; restore the originals on exit or error."""
    original = unet.attn_processors
    unet.set_attn_processor(
        {name: P2PAttnProcessor(controller, _place(name), explicit) for name in original}
    )
    try:
        yield
    finally:
        unet.set_attn_processor(original)
