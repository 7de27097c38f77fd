"""Prompt-to-Prompt editing shared by every inversion method of the P2P family.

The edit pass runs 2B rows ``[s0_src, s0_tgt, ...]`` from x_T = z*_T through the one denoising
loop with the P2P controller installed. A method customises it only through
``edit_hooks`` (e.g. Direct Inversion's source correction, which runs before the local blend as in
the reference) and ``edit_uncond`` (the null embeddings: "" by default, the inversion's per-step
embeddings in both rows when it has them: NTI/NPI).

``task=reconstruct`` runs only the B source rows, without P2P control, with the method's own null
embeddings (the source rows of ``edit_uncond``) and ``source_hooks`` (hooks for one row per sample).
"""

from __future__ import annotations

from typing import Any

import torch

from piebench.data.errors import SampleError
from piebench.methods.base import RECONSTRUCTION_PANEL, Batch, EditMethod, Inversion
from piebench.p2p.controller import EditPair, P2PController, P2PSettings
from piebench.p2p.processor import attention_control
from piebench.sampler.hooks import StepHook
from piebench.sampler.loop import denoise


def p2p_settings(cfg: Any) -> P2PSettings:
    """P2P settings from the ``method.editor`` config node."""
    return P2PSettings(
        controller=str(cfg.controller),
        cross_replace_steps=float(cfg.cross_replace_steps),
        self_replace_steps=float(cfg.self_replace_steps),
        self_max_res=int(cfg.self_max_res),
        local_blend=bool(cfg.local_blend),
        blend_threshold=float(cfg.blend_threshold),
        blend_start=float(cfg.blend_start),
        reweight=float(cfg.reweight),
    )


def interleave(first: list[str], second: list[str]) -> list[str]:
    """[a0, b0, a1, b1, ...]: the row order of the edit pass."""
    return [x for pair in zip(first, second) for x in pair]


class P2PEditMethod(EditMethod):
    """An inversion method whose edit is Prompt-to-Prompt; subclasses implement ``invert``."""

    def check(self, batch: Batch) -> None:
        """The replace controller swaps words one for one: both prompts need the same count."""
        if self.cfg.editor.controller != "replace":
            return
        for sample_id, source, target in zip(batch.ids, batch.source_prompts, batch.target_prompts):
            counts = len(source.split(" ")), len(target.split(" "))
            if counts[0] != counts[1]:
                raise SampleError(
                    sample_id,
                    "prompts",
                    f"method.editor.controller=replace needs prompts with the same number of "
                    f"words, these have {counts[0]} and {counts[1]} (controller=refine edits them)",
                )

    def edit_hooks(self, batch: Batch, inversion: Inversion) -> list[StepHook]:
        """Hooks that run before the P2P controller at each step (none by default)."""
        return []

    def source_hooks(self, batch: Batch, inversion: Inversion) -> list[StepHook]:
        """Hooks of the reconstruction pass (rows: one source row per sample; none by default)."""
        return []

    def edit_uncond(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        """Null embeddings for the 2B edit rows: (2B,77,D) or per step (S,2B,77,D)."""
        if inversion.uncond is not None:
            return inversion.uncond.repeat_interleave(2, dim=1)
        null = self.model.encode_prompts([""])
        return null.expand(2 * len(batch), -1, -1)

    def reconstruct(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        """The source branch alone, no attention control: x_T = z*_T back to x_0."""
        cond = self.model.encode_prompts(batch.source_prompts, batch.ids)
        uncond = self.edit_uncond(batch, inversion)[..., ::2, :, :]
        hooks = self.source_hooks(batch, inversion)
        x_t = inversion.trajectory[-1]
        guidance = float(self.cfg.guidance)
        return denoise(self.model, self.schedule, x_t, cond, uncond, guidance, hooks)

    def edit(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        pairs = self.edit_pairs(batch, inversion)
        # the source rows: the reconstruction panel of the reference's strips
        inversion.extras[RECONSTRUCTION_PANEL] = pairs[0::2]
        return pairs[1::2]

    def edit_pairs(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        """Run the edit pass; returns all 2B x_0 rows [s0_src, s0_tgt, ...] (source rows included)."""
        labels = interleave(batch.ids, batch.ids)
        cond = self.model.encode_prompts(
            interleave(batch.source_prompts, batch.target_prompts), labels
        )
        pairs = [
            EditPair(src, tgt, words)
            for src, tgt, words in zip(
                batch.source_prompts, batch.target_prompts, batch.blended_words
            )
        ]
        x_t = inversion.trajectory[-1].repeat_interleave(2, dim=0)
        controller = P2PController(
            p2p_settings(self.cfg.editor),
            pairs,
            self.model.tokenizer,
            self.schedule.num_steps,
            tuple(x_t.shape[-2:]),
            self.model.device,
        )
        hooks = [*self.edit_hooks(batch, inversion), controller]
        with attention_control(self.model.unet, controller, self.model.explicit_attention):
            latents = denoise(
                self.model,
                self.schedule,
                x_t,
                cond,
                self.edit_uncond(batch, inversion),
                float(self.cfg.guidance),
                hooks,
            )
        return latents
