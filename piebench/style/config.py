"""The ``style`` config (``conf/style.yaml``): composition, typed checks and the output layout.

Every choice the paper leaves open is a key here (see the README's *Diffusion in Style*).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from piebench.conf_compose import compose_conf
from piebench.config_schema import ConfigError, ModelSchema, _check, at_least, choice
from piebench.run_lock import is_held, try_lock

MODELS = ("baseline", "style", "finetuned")


@dataclass
class StyleSchema:
    images: str | None
    name: str | None
    extensions: list[str]
    resolution: int = at_least(8)
    encode_batch_size: int = at_least(1)
    std_ddof: int = at_least(0, 1)
    min_sigma: float = at_least(0.0)
    steps: int = at_least(0)
    train_batch_size: int = at_least(1)
    learning_rate: float = at_least(0.0)
    adam_beta1: float = at_least(0.0, 1.0)
    adam_beta2: float = at_least(0.0, 1.0)
    adam_weight_decay: float = at_least(0.0)
    adam_epsilon: float = at_least(0.0)
    max_grad_norm: float | None = at_least(0.0)
    ema: bool
    ema_decay: float = at_least(0.0, 1.0)
    gradient_checkpointing: bool
    mixed_precision: str = choice("no", "fp16", "bf16")
    target: str = choice("style_noise", "unit_noise")
    train_prompt: str
    checkpoint_every: int = at_least(1)
    keep_checkpoints: int = at_least(1)
    prompts: str | None
    guidance: list[float]
    images_per_prompt: int = at_least(1)
    sample_steps: int = at_least(1)
    steps_offset: int = at_least(0, 1)
    negative_prompt: str
    batch_size: int = at_least(1)
    models: list[str]
    kid_subsets: int = at_least(1)
    kid_subset_size: int = at_least(2)


def load_config(overrides: list[str]) -> DictConfig:
    """Compose ``conf/style.yaml`` with ``key=value`` overrides and check it."""
    cfg = compose_conf("style", overrides)
    _check(cfg.style, StyleSchema, "style.")
    _check(cfg.model, ModelSchema, "model.")
    unknown = sorted(set(cfg.style.models) - set(MODELS))
    if unknown:
        raise ConfigError(f"config key style.models: unknown {unknown}; valid: {', '.join(MODELS)}")
    _check_grid(list(cfg.style.guidance), list(cfg.style.models))
    return cfg


def _check_grid(guidance: list[float], models: list[str]) -> None:
    """The guidance grid: weights >= 0 (w = 0 is the unconditional model, 1 the conditional one;
    below 0 pushes away from the prompt, no point of the paper's curves), each once, as each
    model is (a repeat would make and score the same images twice under one folder)."""
    if not guidance:
        raise ConfigError("config key style.guidance: give at least one guidance weight")
    negative = [f"{w:g}" for w in guidance if w < 0]
    if negative:
        raise ConfigError(
            f"config key style.guidance: weights must be >= 0, got {', '.join(negative)}"
        )
    for key, values in (("guidance", [f"{w:g}" for w in guidance]), ("models", models)):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ConfigError(f"config key style.{key}: {', '.join(repeated)} given twice")


def style_images_dir(cfg: DictConfig) -> Path:
    """``style.images``, which must be set and be a folder."""
    if not cfg.style.images:
        raise ConfigError("config key style.images must be set: style.images=<folder of images>")
    folder = Path(str(cfg.style.images)).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"config key style.images={folder}: not a folder")
    return folder


def run_dir(cfg: DictConfig) -> Path:
    """``<output_dir>/style/<name>``; the name defaults to the style folder's name."""
    name = cfg.style.name or (Path(str(cfg.style.images)).name if cfg.style.images else None)
    if not name:
        raise ConfigError("set style.name=<name> (or style.images=<folder>) to pick the run folder")
    return Path(str(cfg.output_dir)).expanduser() / "style" / str(name)


def plain(node: Any) -> Any:
    """A config node as plain Python containers (for JSON summaries)."""
    return OmegaConf.to_container(node, resolve=True)


@contextmanager
def step_lock(folder: Path, step: str) -> Iterator[None]:
    """Hold ``<folder>/.lock`` while a step writes there: a second ``style <step>`` into the same
    run would redo the same work beside the first, so it stops at once (``ConfigError``)."""
    lock = try_lock(folder / ".lock")
    if lock is None:
        raise ConfigError(f"another `style {step}` is writing {folder}: wait for it to finish")
    with lock:
        yield


def check_not_running(folder: Path, step: str) -> None:
    """A ``ConfigError`` while ``style <step>`` holds ``folder``'s lock (``step_lock``): what
    it is writing is not finished."""
    if is_held(folder / ".lock"):
        raise ConfigError(f"`style {step}` is writing {folder}: wait for it to finish")
