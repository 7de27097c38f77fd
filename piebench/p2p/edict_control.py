"""The reference EDICT's own Prompt-to-Prompt (from bloc97's CrossAttentionControl), not the P2P
controller of ``controller.py``: no refine mapper, no schedule, no local blend, no re-weighting.

Each guided epsilon is one UNet call on 3B rows ``[uncond x B | source x B | target x B]``
(the reference: three batch-1 calls per sub-step, the source call saving every layer's attention
probabilities for the target call that follows). At every step and on every layer:

- self-attention (all resolutions): the target row attends with the source row's probabilities,
  softmax(Q_src K_src^T / sqrt(d)) V_tgt, which the fused kernel computes directly;
- cross-attention: the target's probabilities with the columns of matched tokens taken from the
  source: P = P_tgt (1 - m) + P_src[..., index] m (no renormalisation), where ``token_match``
  decides m and index; unmatched target tokens keep their own columns.

The uncond and source rows run unchanged. The reference also multiplies cross-attention by
per-token weights, all 1 for PIE-Bench (it passes none): omitted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from difflib import SequenceMatcher

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import Attention

from piebench.models.cpu_half import scaled_dot_product_attention
from piebench.models.prompt_text import Tokenizer
from piebench.p2p.layer_io import LayerInput, LayerProcessor


def token_match(
    tokenizer: Tokenizer, source: str, target: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask, index), each (L,) over the target's L padded token positions (L = 77 for CLIP).

    Both prompts are tokenized as the text encoder sees them (start/end tokens, padded with the
    pad token). ``difflib.SequenceMatcher`` aligns the two id sequences; the target positions of
    its "equal" blocks, and of "replace" blocks of equal length on both sides, take the source
    position at the same offset (mask 1, index = source position). Everything else keeps its own
    attention (mask 0, index 0).
    """
    length = int(tokenizer.model_max_length)
    src, tgt = tokenizer(
        [source, target], padding="max_length", max_length=length, truncation=True
    ).input_ids
    mask = torch.zeros(length, dtype=torch.float64)
    index = torch.zeros(length, dtype=torch.long)
    for tag, a0, a1, b0, b1 in SequenceMatcher(None, src, tgt).get_opcodes():
        if tag == "equal" or (tag == "replace" and a1 - a0 == b1 - b0):
            mask[b0:b1] = 1
            index[b0:b1] = torch.arange(a0, a1)
    return mask, index


def _heads(attn: Attention, x: torch.Tensor) -> torch.Tensor:
    """(R, N, heads * d) -> (R, heads, N, d)."""
    return x.view(x.shape[0], x.shape[1], attn.heads, -1).transpose(1, 2)


class SourceAttentionProcessor(LayerProcessor):
    """Attention on [uncond | source | target] rows with the target taking the source's maps."""

    def __init__(self, mask: torch.Tensor, index: torch.Tensor) -> None:
        self.mask = mask[:, None, None, :]  # (B,1,1,L)
        self.index = index[:, None, None, :]

    def attend(
        self, attn: Attention, inp: LayerInput, attention_mask: torch.Tensor | None
    ) -> torch.Tensor:
        if attention_mask is not None:
            raise NotImplementedError("EDICT's source attention control takes no attention mask")
        query, key, value = (_heads(attn, x) for x in (inp.query, inp.key, inp.value))
        out = (
            self._cross(attn, query, key, value)
            if inp.is_cross
            else self._self(attn, query, key, value)
        )
        return out.transpose(1, 2).reshape(inp.rows, inp.tokens, -1)

    @staticmethod
    def _self(
        attn: Attention, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
    ) -> torch.Tensor:
        """Target rows use the source rows' queries and keys, hence the source's probabilities."""
        q_u, q_s, _ = query.chunk(3)
        k_u, k_s, _ = key.chunk(3)
        query, key = torch.cat([q_u, q_s, q_s]), torch.cat([k_u, k_s, k_s])
        return scaled_dot_product_attention(query, key, value, scale=attn.scale)

    def _cross(
        self, attn: Attention, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
    ) -> torch.Tensor:
        """softmax(Q K^T scale) explicitly; matched target columns taken from the source."""
        probs = (query @ key.transpose(-1, -2) * attn.scale).softmax(dim=-1)
        p_u, p_s, p_t = probs.chunk(3)
        mask = self.mask.to(probs.dtype)
        from_source = torch.gather(p_s, -1, self.index.expand_as(p_s))
        p_t = p_t * (1 - mask) + from_source * mask
        return torch.cat([p_u, p_s, p_t]) @ value


@contextmanager
def source_attention_control(
    unet: UNet2DConditionModel,
    tokenizer: Tokenizer,
    sources: Sequence[str],
    targets: Sequence[str],
) -> Iterator[None]:
    """Install ``SourceAttentionProcessor`` for B prompt pairs on every attention layer of
    ``unet``; the original processors are restored on exit or error."""
    matches = [token_match(tokenizer, s, t) for s, t in zip(sources, targets)]
    mask = torch.stack([m for m, _ in matches]).to(unet.device)
    index = torch.stack([i for _, i in matches]).to(unet.device)
    original = unet.attn_processors
    unet.set_attn_processor(SourceAttentionProcessor(mask, index))
    try:
        yield
    finally:
        unet.set_attn_processor(original)
