"""Negative-Prompt Inversion (Miyake et al. 2023) + Prompt-to-Prompt.

No optimisation: the source prompt's embedding stands in for the null embedding at every step
(in both edit rows), which is what Null-Text Inversion converges towards when the guided step
must reproduce the conditional inversion step. ``npi_interp`` = v > 0 (the reference's option)
uses slerp(v, c_src, null) instead: v = 0 is c_src, v = 1 the null embedding.

Notation (code -> paper): ``cond`` -> C (source prompt embedding); ``uncond`` -> the negative
prompt embedding, here (S,B,77,D), the same for every step.
"""

from __future__ import annotations

import torch

from piebench.methods.base import Batch, Inversion
from piebench.methods.ddim import DDIMInversion


def slerp(v: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation per sample over all of a sample's elements (N,...)."""
    a, b = low.flatten(1).float(), high.flatten(1).float()
    cos = (a / a.norm(dim=1, keepdim=True) * b / b.norm(dim=1, keepdim=True)).sum(1)
    omega = torch.acos(cos)[:, None]
    out = (torch.sin((1.0 - v) * omega) * a + torch.sin(v * omega) * b) / torch.sin(omega)
    return out.view_as(low).to(low.dtype)


class NegativePromptInversion(DDIMInversion):
    """DDIM inversion; the source prompt embedding is the unconditional one when editing."""

    def invert(self, batch: Batch) -> Inversion:
        inversion = super().invert(batch)
        cond = self.model.encode_prompts(batch.source_prompts, batch.ids)
        interp = float(self.cfg.get("npi_interp", 0.0))
        if interp > 0:
            null = self.model.encode_prompts([""]).expand_as(cond)
            cond = slerp(interp, cond, null)
        inversion.uncond = cond.expand(self.schedule.num_steps, -1, -1, -1)
        return inversion
