"""Typed schemas of the run config's shared keys, checked before any work starts.

Hydra already rejects unknown keys (struct mode); these dataclasses add types and choices, so
``method.steps=abc`` or ``image_format=gif`` fails at once with the key named, instead of a
traceback from deep inside a run. Method-specific keys are checked by each method.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """A config value has the wrong type or is not one of the allowed choices."""


@dataclass
class RunSchema:
    output_dir: str
    run_name: str
    seed: int
    rerun: bool
    batch_size: int
    image_format: str
    jpeg_quality: int
    progress: bool
    evaluate: bool
    task: str


@dataclass
class DataSchema:
    root: Any
    types: Any
    ids: Any
    limit: int | None
    resolution: int
    mask_border: bool


@dataclass
class ModelSchema:
    kind: str
    device: str
    dtype: str
    seed: int


@dataclass
class MethodSchema:
    name: str
    steps: int
    steps_offset: int
    guidance: float


@dataclass
class EditorSchema:
    controller: str
    cross_replace_steps: float
    self_replace_steps: float
    self_max_res: int
    local_blend: bool
    blend_threshold: float
    blend_start: float
    reweight: float


CHOICES = {
    "image_format": ("jpg", "png"),
    "task": ("edit", "reconstruct"),
    "controller": ("refine", "replace"),
    "attention": ("sdpa", "explicit"),
}
POSITIVE = ("batch_size", "steps", "resolution")


def _check(node: DictConfig, schema: type, prefix: str) -> None:
    values = {f.name: node[f.name] for f in fields(schema) if f.name in node}
    try:
        typed = OmegaConf.merge(OmegaConf.structured(schema), values)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        raise ConfigError(f"config key {prefix}{key}: {str(err).splitlines()[0]}") from None
    for key, value in typed.items():
        if key in CHOICES and value not in CHOICES[key]:
            raise ConfigError(
                f"config key {prefix}{key}={value!r}: valid values {', '.join(CHOICES[key])}"
            )
        if key in POSITIVE and value < 1:
            raise ConfigError(f"config key {prefix}{key}={value}: must be >= 1")


def validate(cfg: DictConfig) -> None:
    """Raise ``ConfigError`` naming the first key whose value has the wrong type or choice."""
    _check(cfg, RunSchema, "")
    _check(cfg.data, DataSchema, "data.")
    _check(cfg.model, ModelSchema, "model.")
    attention = cfg.model.get("attention", "sdpa")
    if attention not in CHOICES["attention"]:
        raise ConfigError(f"config key model.attention={attention!r}: valid values sdpa, explicit")
    _check(cfg.method, MethodSchema, "method.")
    if "editor" in cfg.method:
        _check(cfg.method.editor, EditorSchema, "method.editor.")
