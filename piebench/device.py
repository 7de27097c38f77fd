"""The one rule that turns a ``device`` config value into a torch device (models and metrics)."""

from __future__ import annotations

import torch

from piebench.config_schema import ConfigError


def resolve_device(name: str, key: str = "model.device") -> torch.device:
    """``auto`` = the GPU when there is one, else the CPU; anything else is passed to torch.
    Asking for CUDA (or Apple's MPS) without such a device is a ``ConfigError`` naming ``key``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"config key {key}={name!r}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{key}={name} but no CUDA device is available (use auto or cpu)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{key}={name} but this torch has no usable MPS device (use auto or cpu)")
    return device
