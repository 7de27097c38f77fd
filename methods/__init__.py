"""Editing methods, one module each, found through ``METHODS`` (registry key = config name)."""

from __future__ import annotations

from piebench.methods.base import Batch, EditMethod, Inversion
from piebench.methods.ddim import DDIMInversion
from piebench.methods.direct import DirectInversion
from piebench.methods.edict import EDICT
from piebench.methods.npi import NegativePromptInversion
from piebench.methods.nti import NullTextInversion
from piebench.registry import Registry

METHODS: Registry[type[EditMethod]] = Registry("method")
METHODS.register("ddim")(DDIMInversion)
METHODS.register("direct")(DirectInversion)
METHODS.register("edict")(EDICT)
METHODS.register("npi")(NegativePromptInversion)
METHODS.register("nti")(NullTextInversion)

__all__ = ["METHODS", "Batch", "EditMethod", "Inversion"]
