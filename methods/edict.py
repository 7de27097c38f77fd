"""EDICT (Wallace et al. 2023): exact inversion with two coupled latent sequences.

The update rule differs from DDIM, so EDICT owns its loop; it reuses the schedule's DDIM maths
(``prev_step`` and its exact algebraic inverse ``next_step``), ``guided_eps`` and the P2P controller.

Notation (code -> paper): ``x, y`` -> the coupled sequences x_t, y_t; ``p`` (``mix_weight``) -> the
mixing weight p = 0.93; ``eps(z)`` -> CFG epsilon at timestep t (w = ``guidance``, null prompt "").
One denoising step at t (leapfrog: odd steps swap the roles of x and y):

1. x_inter = DDIM(x, eps(y));  2. y_inter = DDIM(y, eps(x_inter));
3. x' = p x_inter + (1 - p) y_inter;  4. y' = p y_inter + (1 - p) x'.

Inversion undoes 4, 3, 2, 1 in that order, so invert -> denoise is exact up to rounding; the
reference runs everything in float64 (``dtype``). Like the reference (``init_image_strength``
0.8), only the last K = int(strength S) timesteps are used. Editing: the coupled denoising with the
target prompt (the reference's "direct forward"), or with ``p2p=true`` with the P2P controller
(source and target rows share the latent; the target's eps is used).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from piebench.methods.base import Batch, EditMethod, Inversion
from piebench.methods.p2p_edit import interleave, p2p_settings
from piebench.models.sd import SDModel
from piebench.p2p.controller import EditPair, P2PController
from piebench.p2p.processor import attention_control
from piebench.sampler.loop import guided_eps

EpsFn = Callable[[torch.Tensor, int], torch.Tensor]
Pair = tuple[torch.Tensor, torch.Tensor]
DTYPES = {"float32": torch.float32, "float64": torch.float64}


class EDICT(EditMethod):
    """Coupled exact inversion with the source prompt; editing by the coupled denoising."""

    def __init__(self, model: SDModel, cfg: Any) -> None:
        super().__init__(model, cfg)
        if str(cfg.dtype) not in DTYPES:
            raise ValueError(f"method.dtype must be one of {sorted(DTYPES)}, got {cfg.dtype!r}")
        dtype = DTYPES[str(cfg.dtype)]
        unet = model.unet if dtype == model.dtype else copy.deepcopy(model.unet).to(dtype)
        # a view of the shared model whose UNet runs in ``dtype`` (the shared one is left alone)
        self.net = dataclasses.replace(model, unet=unet, dtype=dtype)
        self.p = float(cfg.mix_weight)
        steps = self.schedule.num_steps
        self.timesteps = self.schedule.timesteps[steps - int(steps * float(cfg.strength)) :]

    # -- one coupled step each way -------------------------------------------------------------
    def _denoise_step(self, i: int, t: int, x: torch.Tensor, y: torch.Tensor, eps: EpsFn) -> Pair:
        first, second = (x, y) if i % 2 == 0 else (y, x)
        first = self.schedule.prev_step(eps(second, t), t, first)
        second = self.schedule.prev_step(eps(first, t), t, second)
        x, y = (first, second) if i % 2 == 0 else (second, first)
        x = self.p * x + (1 - self.p) * y
        return x, (1 - self.p) * x + self.p * y

    def _invert_step(self, i: int, t: int, x: torch.Tensor, y: torch.Tensor, eps: EpsFn) -> Pair:
        y = (y - (1 - self.p) * x) / self.p
        x = (x - (1 - self.p) * y) / self.p
        first, second = (x, y) if i % 2 == 0 else (y, x)
        second = self.schedule.next_step(eps(first, t), t, second)
        first = self.schedule.next_step(eps(second, t), t, first)
        return (first, second) if i % 2 == 0 else (second, first)

    # -- epsilon functions -----------------------------------------------------------------------
    def _embeddings(self, prompts: list[str], ids: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        cond = self.net.encode_prompts(prompts, ids)
        null = self.net.encode_prompts([""]).expand_as(cond)
        return cond, null

    def _cfg_eps(self, prompts: list[str], ids: list[str]) -> EpsFn:
        cond, null = self._embeddings(prompts, ids)
        guidance = float(self.cfg.guidance)
        return lambda z, t: guided_eps(self.net, self.schedule, z, t, cond, null, guidance)

    def _p2p_eps(self, batch: Batch) -> tuple[EpsFn, P2PController]:
        """eps of the target row of [src, tgt] rows that share one latent, under P2P control."""
        ids = interleave(batch.ids, batch.ids)
        cond, null = self._embeddings(interleave(batch.source_prompts, batch.target_prompts), ids)
        pairs = [EditPair(s, t, None) for s, t in zip(batch.source_prompts, batch.target_prompts)]
        size = tuple(batch.images.shape[-2:])
        latent_size = (size[0] // 8, size[1] // 8)
        controller = P2PController(
            p2p_settings(self.cfg.editor),
            pairs,
            self.model.tokenizer,
            len(self.timesteps),
            latent_size,
            self.model.device,
        )
        guidance = float(self.cfg.guidance)

        def eps(z: torch.Tensor, t: int) -> torch.Tensor:
            rows = z.repeat_interleave(2, dim=0)
            return guided_eps(self.net, self.schedule, rows, t, cond, null, guidance)[1::2]

        return eps, controller

    # -- the method ------------------------------------------------------------------------------
    @torch.no_grad()
    def invert(self, batch: Batch) -> Inversion:
        latents = self.model.encode_images(batch.images)
        eps = self._cfg_eps(batch.source_prompts, batch.ids)
        x = y = latents.to(self.net.dtype)
        xs = [x]
        steps = len(self.timesteps)
        for j, t in enumerate(reversed(self.timesteps)):
            x, y = self._invert_step(steps - 1 - j, t, x, y, eps)
            xs.append(x)
        return Inversion(latents=latents, trajectory=torch.stack(xs), extras={"y": y})

    @torch.no_grad()
    def _generate(
        self, inversion: Inversion, eps: EpsFn, controller: P2PController | None = None
    ) -> torch.Tensor:
        x, y = inversion.trajectory[-1], inversion.extras["y"]
        for i, t in enumerate(self.timesteps):
            if controller is not None:
                controller.step_start(i, t, x)
            x, y = self._denoise_step(i, t, x, y, eps)
        return x.float()

    def edit(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        if not self.cfg.p2p:
            return self._generate(inversion, self._cfg_eps(batch.target_prompts, batch.ids))
        eps, controller = self._p2p_eps(batch)
        with attention_control(self.net.unet, controller, self.model.explicit_attention):
            return self._generate(inversion, eps, controller)

    def reconstruct(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        return self._generate(inversion, self._cfg_eps(batch.source_prompts, batch.ids))
