"""The Prompt-to-Prompt controller for a batch of samples, each a [source, target] pair.

Layout: the edit pass runs 2B latent rows ``[s0_src, s0_tgt, s1_src, s1_tgt, ...]``; with CFG the
UNet sees 4B rows ``[uncond rows..., cond rows...]``. Control touches only the conditional half,
as the reference does. Per step ``i`` of ``n``:

- cross-attention: while ``i < int(cross_replace_steps * (n + 1))`` the target's maps are the
  source's, token-aligned (refine) or word-swapped (replace), times the re-weighting equalizer;
- self-attention: while ``i < int(self_replace_steps * n)`` the target's maps are the source's,
  on layers with at most ``self_max_res**2`` tokens (the reference: 32x32);
- local blend: the cross-attention maps of the blended words, on the layers at 1/4 of the latent
  resolution (SD v1 at 512 px: the 16x16 layers), are summed over all steps so far; from step
  ``int(blend_start * n)`` on, after each step the target latent outside the thresholded map is
  reset to the source latent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from piebench.models.prompt_text import Tokenizer
from piebench.p2p import alignment
from piebench.sampler.hooks import StepHook


@dataclass(frozen=True)
class P2PSettings:
    """Prompt-to-Prompt hyper-parameters (PIE-Bench defaults)."""

    controller: str = "refine"
    cross_replace_steps: float = 0.4
    self_replace_steps: float = 0.6
    self_max_res: int = 32
    local_blend: bool = True
    blend_threshold: float = 0.3
    blend_start: float = 0.2
    reweight: float = 2.0


@dataclass(frozen=True)
class EditPair:
    """One sample's prompts and optional blended-word pair (source word, target word)."""

    source: str
    target: str
    blended_words: tuple[str, str] | None


class P2PController(StepHook):
    """Edits attention probabilities of a batch and blends latents; one instance per edit pass."""

    def __init__(
        self,
        settings: P2PSettings,
        pairs: Sequence[EditPair],
        tokenizer: Tokenizer,
        num_steps: int,
        latent_size: tuple[int, int],
        device: torch.device,
    ) -> None:
        if settings.controller not in ("refine", "replace"):
            raise ValueError(
                f"unknown p2p controller {settings.controller!r}; valid: refine, replace"
            )
        self.settings = settings
        self.batch = len(pairs)
        self.step = 0
        self.cross_end = int(settings.cross_replace_steps * (num_steps + 1))
        self.self_end = int(settings.self_replace_steps * num_steps)
        self.blend_from = int(settings.blend_start * num_steps)
        self.self_max_tokens = settings.self_max_res**2
        self.latent_size = latent_size
        self.blend_size = (latent_size[0] // 4, latent_size[1] // 4)
        self.blend_tokens = self.blend_size[0] * self.blend_size[1]

        if settings.controller == "refine":
            maps = [alignment.refinement_mapper(p.source, p.target, tokenizer) for p in pairs]
            self.mapper = torch.stack([m for m, _ in maps]).to(device)
            self.alphas = torch.stack([a for _, a in maps]).to(device)[:, None, None, :]
        else:
            self.mapper = torch.stack(
                [alignment.replacement_mapper(p.source, p.target, tokenizer) for p in pairs]
            ).to(device)
        eq = [
            alignment.equalizer(p.target, p.blended_words[1], settings.reweight, tokenizer)
            if p.blended_words
            else torch.ones(alignment.MAX_TOKENS)
            for p in pairs
        ]
        self.equalizer = torch.stack(eq).to(device)[:, None, None, :]
        words = torch.zeros(self.batch, 2, alignment.MAX_TOKENS)
        for b, pair in enumerate(pairs):
            if pair.blended_words:
                for r, (prompt, word) in enumerate(
                    zip((pair.source, pair.target), pair.blended_words)
                ):
                    words[b, r, alignment.word_token_positions(prompt, word, tokenizer)] = 1
        self.blend_words = words.to(device)
        self.blends = torch.tensor([p.blended_words is not None for p in pairs], device=device)
        self.blend_enabled = settings.local_blend and bool(self.blends.any())
        # (B, 2, tokens, 77) summed over heads, layers and steps; the mask is normalised by its
        # maximum, so a sum serves where the reference takes a mean over heads and layers.
        self.blend_sum: torch.Tensor | None = None

    # -- which layers need attention probabilities ------------------------------------------
    @property
    def cross_active(self) -> bool:
        return self.step < self.cross_end

    @property
    def self_active(self) -> bool:
        return self.step < self.self_end

    def wants_probs(self, is_cross: bool, tokens: int) -> bool:
        """False lets the processor use fused attention (no probabilities materialised)."""
        if is_cross:
            return self.cross_active or (self.blend_enabled and tokens == self.blend_tokens)
        return self.self_active and tokens <= self.self_max_tokens

    # -- attention editing --------------------------------------------------------------------
    def edit(self, probs: torch.Tensor, is_cross: bool, place: str) -> torch.Tensor:
        """Edit the conditional probabilities, shaped (B, 2, heads, tokens, keys); returns same."""
        src, tgt = probs[:, 0], probs[:, 1]
        tokens = probs.shape[3]
        if is_cross:
            if self.cross_active:
                tgt = self._replace_cross(src, tgt)
            if self.blend_enabled and tokens == self.blend_tokens and place in ("down", "up"):
                self._accumulate(torch.stack([src, tgt], dim=1))
        elif self.self_active and tokens <= self.self_max_tokens:
            tgt = src
        return torch.stack([src, tgt], dim=1)

    def _replace_cross(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        if self.settings.controller == "refine":
            index = self.mapper[:, None, None, :].expand(-1, src.shape[1], src.shape[2], -1)
            mapped = torch.gather(src, 3, index)
            mapped = mapped * self.alphas + tgt * (1 - self.alphas)
        else:
            mapped = torch.einsum("bhpw,bwn->bhpn", src, self.mapper)
        return mapped * self.equalizer

    def _accumulate(self, probs: torch.Tensor) -> None:
        summed = probs.sum(dim=2).float()
        self.blend_sum = summed if self.blend_sum is None else self.blend_sum + summed

    # -- step hooks -----------------------------------------------------------------------------
    def step_start(self, i: int, t: int, latents: torch.Tensor) -> torch.Tensor:
        self.step = i
        return latents

    def step_end(self, i: int, t: int, latents: torch.Tensor) -> torch.Tensor:
        """Local blend of the target rows (rows are [src, tgt] per sample)."""
        if not self.blend_enabled or i < self.blend_from or self.blend_sum is None:
            return latents
        pairs = latents.view(self.batch, 2, *latents.shape[1:])
        maps = (self.blend_sum * self.blend_words[:, :, None, :]).sum(-1)
        maps = maps.view(self.batch, 2, *self.blend_size)
        maps = F.max_pool2d(maps, kernel_size=3, stride=1, padding=1)
        maps = F.interpolate(maps, size=self.latent_size)
        maps = maps / maps.amax(dim=(2, 3), keepdim=True)
        region = maps > self.settings.blend_threshold
        mask = (region[:, 0] | region[:, 1]) & self.blends[:, None, None]
        src, tgt = pairs[:, 0], pairs[:, 1]
        keep = ~self.blends[:, None, None, None]  # samples without blended words are not blended
        blended = torch.where(keep, tgt, src + mask[:, None].float() * (tgt - src))
        return torch.stack([src, blended], dim=1).view_as(latents)
