"""Null-Text Inversion (Mokady et al. 2023) + Prompt-to-Prompt.

DDIM inversion gives the trajectory z*_0..z*_T. Then, step by step from x_T = z*_T, the null
embedding is optimised so that the guided DDIM step lands on the trajectory:

1. eps_c = eps(x_t, t, c_src), once per step (no gradient);
2. up to ``inner_steps`` Adam steps on the null embedding, lr_i = lr (1 - i/100):
   loss_b = mean over sample b's elements of (DDIM(x_t, eps_u + w (eps_c - eps_u)) - z*_{t-1})^2;
   sample b stops after the Adam step whose loss_b < epsilon + 2e-5 i (the reference's rule);
3. x_{t-1} = the guided DDIM step with the optimised embedding; the embedding carries over.

All UNet calls of one step share x_t and t, so the first self-attention is computed once per step
(``memoized_first_attention``: same values, ~8 % less time per Adam step on the fixture model).

Batched over samples: each sample owns its embedding rows and Adam state (Adam is element-wise, so
one optimiser over the (B,77,D) tensor is B independent optimisers as long as every gradient is
the sample's own: the loss is the *sum* of per-sample losses). One UNet call per inner step on the
still-active samples only; a stopped sample's embedding is restored after every later Adam step.

Notation (code -> paper): ``null`` -> the "" embedding; ``uncond`` -> the optimised null-text
embeddings {phi_t} (S,B,77,D); ``guidance`` -> w; ``trajectory`` -> z*.
``single_branch=true`` (the paper's ablation) uses phi_t in the source row only, "" in the target row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from piebench.methods.base import Batch, Inversion
from piebench.methods.ddim import DDIMInversion
from piebench.models.first_attention_memo import memoized_first_attention
from piebench.models.sd import SDModel
from piebench.sampler.schedule import DDIMSchedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NullTextSettings:
    """The reference's optimisation schedule (``NullInversion.null_optimization``)."""

    inner_steps: int = 10
    lr: float = 1e-2
    early_stop: float = 1e-5

    def lr_at(self, i: int) -> float:
        return self.lr * (1.0 - i / 100.0)

    def threshold_at(self, i: int) -> float:
        return self.early_stop + i * 2e-5


def _fit_step(
    model: SDModel,
    schedule: DDIMSchedule,
    i: int,
    latents: torch.Tensor,
    eps_cond: torch.Tensor,
    target: torch.Tensor,
    start: torch.Tensor,
    guidance: float,
    settings: NullTextSettings,
) -> torch.Tensor:
    """Optimise the (B,77,D) float32 null embeddings of step i; returns them detached."""
    t = schedule.timesteps[i]
    phi = start.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([phi], lr=settings.lr_at(i))
    active = torch.ones(phi.shape[0], dtype=torch.bool, device=phi.device)
    for _ in range(settings.inner_steps):
        rows = active.nonzero().squeeze(1)
        x_t = latents[rows]
        eps_u = schedule.to_eps(model.predict(x_t, t, phi[rows].to(model.dtype)), t, x_t)
        eps = eps_u + guidance * (eps_cond[rows] - eps_u)
        loss = (schedule.prev_step(eps, t, x_t) - target[rows]).pow(2).flatten(1).mean(dim=1)
        optimizer.zero_grad()
        loss.sum().backward(inputs=[phi])
        before = phi.detach().clone()
        optimizer.step()
        with torch.no_grad():
            phi[~active] = before[~active]
        active[rows[loss.detach() < settings.threshold_at(i)]] = False
        if not active.any():
            break
    return phi.detach()


def optimise_null(
    model: SDModel,
    schedule: DDIMSchedule,
    trajectory: torch.Tensor,
    cond: torch.Tensor,
    null: torch.Tensor,
    guidance: float,
    settings: NullTextSettings = NullTextSettings(),
) -> torch.Tensor:
    """Per-step null embeddings (S,B,77,D) for a (S+1,B,4,h,w) trajectory and (B,77,D) ``cond``."""
    steps = schedule.num_steps
    phi = null.float().expand(cond.shape[0], -1, -1)
    latents = trajectory[-1]
    out = []
    with memoized_first_attention(model.unet):
        for i, t in enumerate(schedule.timesteps):
            with torch.no_grad():
                eps_cond = schedule.to_eps(model.predict(latents, t, cond), t, latents)
            if settings.inner_steps:
                with torch.enable_grad():
                    phi = _fit_step(
                        model,
                        schedule,
                        i,
                        latents,
                        eps_cond,
                        trajectory[steps - i - 1],
                        phi,
                        guidance,
                        settings,
                    )
            out.append(phi)
            with torch.no_grad():
                eps_u = schedule.to_eps(model.predict(latents, t, phi.to(model.dtype)), t, latents)
                latents = schedule.prev_step(eps_u + guidance * (eps_cond - eps_u), t, latents)
    return torch.stack(out).to(model.dtype)


class NullTextInversion(DDIMInversion):
    """DDIM inversion + null-text optimisation; P2P editing with the per-step embeddings."""

    def invert(self, batch: Batch) -> Inversion:
        inversion = super().invert(batch)
        cond = self.model.encode_prompts(batch.source_prompts, batch.ids)
        settings = NullTextSettings(
            int(self.cfg.inner_steps), float(self.cfg.learning_rate), float(self.cfg.early_stop)
        )
        null = self.model.encode_prompts([""])
        inversion.uncond = optimise_null(
            self.model,
            self.schedule,
            inversion.trajectory,
            cond,
            null,
            float(self.cfg.guidance),
            settings,
        )
        return inversion

    def edit_uncond(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        uncond = super().edit_uncond(batch, inversion)
        if self.cfg.get("single_branch", False):
            uncond = uncond.clone()
            uncond[:, 1::2] = self.model.encode_prompts([""])
        return uncond
