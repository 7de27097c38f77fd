"""Editing methods, one module each, found through ``METHODS`` (registry key = config name)."""

from __future__ import annotations

from piebench.methods.base import Batch, EditMethod, Inversion
from piebench.methods.ddim import DDIMInversion
from piebench.methods.direct import DirectInversion
from piebench.registry import Registry

METHODS: Registry[type[EditMethod]] = Registry("method")
METHODS.register("ddim")(DDIMInversion)
METHODS.register("direct")(DirectInversion)

__all__ = ["METHODS", "Batch", "EditMethod", "Inversion"]
