"""The method contract: ``invert(batch) -> Inversion`` and ``edit(batch, inversion) -> latents``.

An ``Inversion`` is an explicit value passed from one call to the other; methods keep no state
between calls, so any batch can be inverted and edited independently of the others.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from piebench.data.pie_bench import Sample
from piebench.models.sd import SDModel, images_to_tensor
from piebench.sampler.schedule import DDIMSchedule, SchedulerConfig


@dataclass
class Batch:
    """B samples to edit. ``images`` are the prepared sources, (B,3,H,W) uint8; ``masks`` the
    PIE-Bench edit masks, (B,512,512) uint8 with 1 = edited region (only Blended Latent Diffusion
    reads them: every other method is mask-free). ``notes`` collects per-sample facts a method
    wants in the run record (e.g. BLD's candidate scores)."""

    ids: list[str]
    images: torch.Tensor
    source_prompts: list[str]
    target_prompts: list[str]
    blended_words: list[tuple[str, str] | None]
    generators: list[torch.Generator]
    masks: torch.Tensor | None = None
    notes: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.notes:
            self.notes = [{} for _ in self.ids]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_samples(
        cls,
        samples: list[Sample],
        images: list[np.ndarray],
        seed: int,
        reconstruct: bool = False,
        mask_border: bool = True,
    ) -> Batch:
        """A batch of prepared (H,W,3) uint8 images; ``reconstruct``: target prompt = source
        prompt and no blended words. Each sample gets its own CPU generator seeded with ``seed``
        (the reference resets the seed before every image). Masks are decoded as for scoring
        (``mask_border``: the reference forces the 1-pixel border into the mask)."""
        return cls(
            ids=[s.id for s in samples],
            images=images_to_tensor(images),
            source_prompts=[s.source_prompt for s in samples],
            target_prompts=[s.source_prompt if reconstruct else s.target_prompt for s in samples],
            blended_words=[None if reconstruct else s.blended_words for s in samples],
            generators=[torch.Generator().manual_seed(seed) for _ in samples],
            masks=torch.from_numpy(np.stack([s.mask(border=mask_border) for s in samples])),
        )


# Inversion.extras key where ``edit`` leaves the x_0 latents of the reference strip's
# reconstruction panel (``image_format=strip``, see ``piebench.strips``); absent = a black panel
RECONSTRUCTION_PANEL = "reconstruction_panel"


@dataclass
class Inversion:
    """What editing needs from inversion.

    ``latents``: z*_0, the VAE latents (B,4,h,w); ``trajectory``: (S+1,B,4,h,w) from z*_0 to z*_T;
    ``uncond``: optional per-step null embeddings (S,B,77,D); ``extras``: method specifics.
    """

    latents: torch.Tensor
    trajectory: torch.Tensor
    uncond: torch.Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class EditMethod(ABC):
    """Base of all methods: holds the shared model, the method config and the DDIM schedule."""

    reconstructs: ClassVar[bool] = True  # has a ``task=reconstruct`` (BLD, a generator, has not)

    def __init__(self, model: SDModel, cfg: Any) -> None:
        # prompts tokenize as in this method's reference environment (``method.text_cleaning``)
        self.model = model.with_text_cleaning(str(cfg.text_cleaning))
        self.cfg = cfg
        self.schedule = DDIMSchedule(
            int(cfg.steps),
            SchedulerConfig(
                prediction_type=model.prediction_type, steps_offset=int(cfg.steps_offset)
            ),
        )

    @property
    def image_fit(self) -> str:
        """How a source file is brought to the working size, as this method's reference script
        loads it (``method.image_fit``; every fit is the identity on 512 x 512 files)."""
        return str(self.cfg.image_fit)

    def check(self, batch: Batch) -> None:
        """Raise ``SampleError`` for a sample this method cannot edit as configured, before any
        work is spent on the batch (the runner records it and goes on with the others)."""

    @abstractmethod
    def invert(self, batch: Batch) -> Inversion:
        """Invert the batch's source images."""

    @abstractmethod
    def edit(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        """Return the edited (target) x_0 latents, (B,4,h,w) float32 (EDICT: its ``dtype``)."""

    def decode(self, latents: torch.Tensor, batch: Batch) -> np.ndarray:
        """(B,H,W,3) uint8 images of ``batch``'s ``edit``/``reconstruct`` latents: the shared
        model's VAE, truncating like the P2P family's reference; methods with other conventions
        (rounding, a per-sample fine-tuned decoder) override it."""
        return self.model.decode(latents)

    def reconstruct(self, batch: Batch, inversion: Inversion) -> torch.Tensor:
        """``task=reconstruct``: the source x_0 latents rebuilt from the inversion without any
        editing control (the paper's reconstruction comparison), (B,4,h,w) float32."""
        raise NotImplementedError(f"method {type(self).__name__} has no reconstruction task")
