"""DDIM inversion + Prompt-to-Prompt (PIE-Bench Table 1, row "DDIM / P2P")."""

from __future__ import annotations

from piebench.methods.base import Batch, Inversion
from piebench.methods.p2p_edit import P2PEditMethod
from piebench.sampler.inversion import ddim_invert


class DDIMInversion(P2PEditMethod):
    """Invert with the source prompt (conditional only, or CFG with ``inverse_guidance``)."""

    def invert(self, batch: Batch) -> Inversion:
        latents = self.model.encode_images(batch.images)
        cond = self.model.encode_prompts(batch.source_prompts, batch.ids)
        guidance = self.cfg.get("inverse_guidance")
        uncond = None
        if guidance is not None:
            guidance = float(guidance)
            uncond = self.model.encode_prompts([""]).expand(len(batch), -1, -1)
        trajectory = ddim_invert(self.model, self.schedule, latents, cond, uncond, guidance)
        return Inversion(latents=latents, trajectory=trajectory)
