"""Editing methods, one module each, found through ``METHODS`` (registry key = config name)."""

from __future__ import annotations

from piebench.methods.base import Batch, EditMethod, Inversion
from piebench.methods.bld import BlendedLatentDiffusion
from piebench.methods.ddim import DDIMInversion
from piebench.methods.direct import DirectInversion
from piebench.methods.edict import EDICT
from piebench.methods.npi import NegativePromptInversion
from piebench.methods.nti import NullTextInversion
from piebench.methods.pix2pix_zero import Pix2PixZero
from piebench.registry import Registry

METHODS: Registry[type[EditMethod]] = Registry("method")
METHODS.register("bld")(BlendedLatentDiffusion)
METHODS.register("ddim")(DDIMInversion)
METHODS.register("direct")(DirectInversion)
METHODS.register("edict")(EDICT)
METHODS.register("npi")(NegativePromptInversion)
METHODS.register("nti")(NullTextInversion)
METHODS.register("pix2pix_zero")(Pix2PixZero)

__all__ = ["METHODS", "Batch", "EditMethod", "Inversion"]
