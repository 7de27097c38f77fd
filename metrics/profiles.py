"""Metric profiles: one named, recorded set of scoring behaviours per evaluation era.

The reference evaluator's numbers depend on the libraries it ran with, not only on its code.
Three behaviours changed under it; each is a setting here rather than whatever the installed
library happens to do:

* ``ssim.crop_border``: torchmetrics <= 1.4.1 averaged the SSIM map without the Gaussian
  window's half-width (5 px) border; >= 1.4.2 averages the whole map. Up to 0.016 apart.
* ``ssim.clamp_variance``: torchmetrics >= 1.3.2 clamps SSIM's local variances at 0; before,
  float32 cancellation could leave them slightly negative (~1e-5 relative).
* ``dino.antialias``: torchvision < 0.17 resized tensors without antialiasing (DINO's input
  resize 512 -> 224); >= 0.17 antialiases. Up to ~0.1 relative on structure distance.

(CLIP's image preprocessing changed too, with transformers 5; it is fixed to the 4.x one that
every era of the reference used: ``clip_preprocess.py``.) A profile is the scoring ``mode``
(``parity`` = the reference's formulas, ``clean`` = masked means and DINO on [0,1], see
``masked.py``) plus these settings, under a name:

==================  ======  ===========  =============  ==============  =======================
profile             mode    ssim.crop_   ssim.clamp_    dino.antialias  era
                            border       variance
==================  ======  ===========  =============  ==============  =======================
``parity``          parity  true         false          false           the published tables
(default)                                                               (2023 libraries)
``parity_current``  parity  false        true           true            the reference evaluator
                                                                        with 2024+ libraries
``clean``           clean   false        true           true            the clean variant
==================  ======  ===========  =============  ==============  =======================

A built-in name is a promise: overriding one of its settings is an error (name the
combination with ``metrics.profile=<new name>`` instead). The name keys the scores file
(``scores_<profile>.csv``); the settings go into its sidecar and every table header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from piebench.config_schema import ConfigError
from piebench.metrics.masked import Mode, check_mode

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class MetricProfile:
    """The scoring mode and the library-era settings of one evaluation, under a name."""

    name: str
    mode: Mode
    ssim_crop_border: bool
    ssim_clamp_variance: bool
    dino_antialias: bool

    def settings(self) -> dict[str, Any]:
        """The behaviours as config keys (relative to ``metrics``), for sidecars and headers."""
        return {
            "mode": self.mode,
            "ssim.crop_border": self.ssim_crop_border,
            "ssim.clamp_variance": self.ssim_clamp_variance,
            "dino.antialias": self.dino_antialias,
        }

    def header(self) -> str:
        """One line naming the profile and its settings, e.g. for a table caption."""
        shown = ", ".join(f"{k}={_yaml(v)}" for k, v in self.settings().items())
        return f"metric profile: {self.name} ({shown})"


BUILTIN_PROFILES: dict[str, MetricProfile] = {
    p.name: p
    for p in (
        MetricProfile(
            "parity",
            "parity",
            ssim_crop_border=True,
            ssim_clamp_variance=False,
            dino_antialias=False,
        ),
        MetricProfile(
            "parity_current",
            "parity",
            ssim_crop_border=False,
            ssim_clamp_variance=True,
            dino_antialias=True,
        ),
        MetricProfile(
            "clean", "clean", ssim_crop_border=False, ssim_clamp_variance=True, dino_antialias=True
        ),
    )
}


def resolve_profile(metrics_cfg: Mapping[str, Any] | None) -> MetricProfile:
    """The profile of a ``metrics`` config group, validated.

    The name is ``profile`` (else ``mode``, else ``parity``). For a built-in name a missing
    setting takes the profile's value and a different one raises ``ValueError``; a new name must
    set ``mode`` and every setting itself. Settings must be booleans.
    """
    cfg = metrics_cfg or {}
    name = str(cfg.get("profile") or cfg.get("mode") or "parity")
    if not _NAME.fullmatch(name):
        raise ConfigError(f"metrics.profile '{name}' must be letters, digits, '_', '.' or '-'")
    builtin = BUILTIN_PROFILES.get(name)
    given = {
        "mode": cfg.get("mode"),
        "ssim.crop_border": (cfg.get("ssim") or {}).get("crop_border"),
        "ssim.clamp_variance": (cfg.get("ssim") or {}).get("clamp_variance"),
        "dino.antialias": (cfg.get("dino") or {}).get("antialias"),
    }
    values: dict[str, Any] = {}
    for key, value in given.items():
        if value is None:
            if builtin is None:
                raise ConfigError(f"metrics.profile '{name}' is not built in: set metrics.{key}")
            value = builtin.settings()[key]
        elif key != "mode" and not isinstance(value, bool):
            raise ConfigError(f"metrics.{key} must be true or false, got {value!r}")
        values[key] = value
    profile = MetricProfile(
        name,
        check_mode(str(values["mode"])),
        ssim_crop_border=values["ssim.crop_border"],
        ssim_clamp_variance=values["ssim.clamp_variance"],
        dino_antialias=values["dino.antialias"],
    )
    if builtin is not None and profile != builtin:
        clash = [k for k, v in profile.settings().items() if builtin.settings()[k] != v]
        raise ConfigError(
            f"metrics.{clash[0]}={_yaml(profile.settings()[clash[0]])} contradicts profile "
            f"'{name}' ({builtin.header()}); choose another profile "
            f"({', '.join(BUILTIN_PROFILES)}) or name the combination: metrics.profile=<name>"
        )
    return profile


def _yaml(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
