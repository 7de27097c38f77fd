"""What every attention processor of an SD transformer block does around the attention itself,
as diffusers' ``AttnProcessor`` does it: the input side (spatial -> token layout, group norm,
cross-attention context norm, q/k/v projections) and the output side (output projection, back to
the spatial layout, residual, rescale). Our processors differ only in between."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.models.attention_processor import Attention

from piebench.models.cpu_half import scaled_dot_product_attention


@dataclass
class LayerInput:
    """Projected ``query`` (rows, tokens, C) and ``key``/``value`` (rows, keys, C) of one call,
    with what the output side needs back."""

    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    residual: torch.Tensor
    spatial_shape: tuple[int, ...] | None
    is_cross: bool

    @property
    def rows(self) -> int:
        return self.query.shape[0]

    @property
    def tokens(self) -> int:
        return self.query.shape[1]


def layer_input(
    attn: Attention,
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor | None,
    temb: torch.Tensor | None,
) -> LayerInput:
    residual = hidden_states
    if attn.spatial_norm is not None:
        hidden_states = attn.spatial_norm(hidden_states, temb)
    spatial_shape = tuple(hidden_states.shape) if hidden_states.ndim == 4 else None
    if spatial_shape is not None:
        b, c, h, w = spatial_shape
        hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
    if attn.group_norm is not None:
        hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
    is_cross = encoder_hidden_states is not None
    context = encoder_hidden_states if is_cross else hidden_states
    if is_cross and attn.norm_cross:
        context = attn.norm_encoder_hidden_states(context)
    return LayerInput(
        attn.to_q(hidden_states),
        attn.to_k(context),
        attn.to_v(context),
        residual,
        spatial_shape,
        is_cross,
    )


def fused_attention(
    attn: Attention, inp: LayerInput, attention_mask: torch.Tensor | None
) -> torch.Tensor:
    """(rows, tokens, C) attention output through ``scaled_dot_product_attention`` (no
    probabilities materialised; differentiable; fp16 on a CPU attended in float32)."""
    heads = attn.heads
    query, key, value = (
        x.view(inp.rows, -1, heads, x.shape[-1] // heads).transpose(1, 2)
        for x in (inp.query, inp.key, inp.value)
    )
    out = scaled_dot_product_attention(query, key, value, attn_mask=attention_mask)
    return out.transpose(1, 2).reshape(inp.rows, inp.tokens, -1).to(query.dtype)


def layer_output(attn: Attention, out: torch.Tensor, inp: LayerInput) -> torch.Tensor:
    """Output projection of (rows, tokens, C) attention output, back to the input's layout."""
    out = attn.to_out[1](attn.to_out[0](out))
    if inp.spatial_shape is not None:
        out = out.transpose(-1, -2).reshape(inp.spatial_shape)
    if attn.residual_connection:
        out = out + inp.residual
    return out / attn.rescale_output_factor


class LayerProcessor:
    """Base of our attention processors: diffusers' processor call (input side, ``attend``,
    output side); a processor implements only ``attend``, the part it changes."""

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        inp = layer_input(attn, hidden_states, encoder_hidden_states, temb)
        return layer_output(attn, self.attend(attn, inp, attention_mask), inp)

    def attend(
        self, attn: Attention, inp: LayerInput, attention_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """(rows, tokens, C) attention output of the layer."""
        raise NotImplementedError


class FusedAttnProcessor(LayerProcessor):
    """diffusers' fused processor (``AttnProcessor2_0``) through our layer IO, so fp16 CPU models
    attend in float32 (``piebench.models.cpu_half``) outside attention control too."""

    def attend(
        self, attn: Attention, inp: LayerInput, attention_mask: torch.Tensor | None
    ) -> torch.Tensor:
        return fused_attention(attn, inp, attention_mask)
