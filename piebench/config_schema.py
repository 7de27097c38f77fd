"""Typed schemas of the run config's shared keys, checked before any work starts.

Hydra already rejects unknown keys (struct mode); these dataclasses add types, choices and
ranges, so ``method.steps=abc``, ``method.interval=0`` or ``method.add_target=maybe`` fails at
once with the key named, instead of a traceback (or a silently wrong run) after full inversions.
One mechanism for every group: a dataclass per config node, each method its own (``METHOD_SCHEMAS``,
keyed like the method registry), choices and ranges as field metadata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import PurePath
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """A config value has the wrong type or is not one of the allowed choices."""


def choice(*values: str | bool) -> Any:
    """A field that must be one of ``values``."""
    return field(metadata={"choices": values})


def at_least(low: float, high: float | None = None) -> Any:
    """A number field in ``[low, high]`` (``high`` None: no upper bound)."""
    return field(metadata={"range": (low, high)})


@dataclass
class RunSchema:
    output_dir: str
    run_name: str
    seed: int
    rerun: bool
    batch_size: Any  # a number >= 1 or "auto" (checked in ``validate``)
    image_format: str = choice("jpg", "png", "strip")
    jpeg_quality: int = at_least(1, 100)
    progress: bool
    fail_fast: bool
    evaluate: bool
    async_write: bool
    task: str = choice("edit", "reconstruct")


@dataclass
class DataSchema:
    root: Any
    types: Any
    ids: Any
    limit: int | None = at_least(0)
    shard: int = at_least(0)
    num_shards: int = at_least(1)
    resolution: int = at_least(8)
    mask_border: bool
    workers: Any  # a number >= 0 or "auto" (checked in ``validate``)


@dataclass
class ModelSchema:
    kind: str = choice("diffusers", "tiny", "sd14_random")
    device: str
    dtype: str = choice("fp32", "float32", "fp16", "float16", "bf16", "bfloat16")
    seed: int
    attention: str = choice("sdpa", "explicit")
    prediction_type: str | None = choice("epsilon", "v_prediction")
    autocast: str | None = choice("bf16", "fp16")
    compile: Any = choice(False, True, "reduce-overhead", "max-autotune")  # noqa: RUF009 (bool or str)
    channels_last: bool = False
    keep_cpu_heap: bool = True


@dataclass
class EditorSchema:
    controller: str = choice("refine", "replace")
    cross_replace_steps: float = at_least(0.0, 1.0)
    self_replace_steps: float = at_least(0.0, 1.0)
    self_max_res: int = at_least(1)
    local_blend: bool
    blend_threshold: float = at_least(0.0, 1.0)
    blend_start: float = at_least(0.0, 1.0)
    reweight: float


@dataclass
class MethodSchema:
    """Keys every method has."""

    name: str
    steps: int = at_least(1, 1000)
    steps_offset: int = at_least(0, 1)
    guidance: float
    text_cleaning: str = choice("ftfy", "basic", "none")  # prompt_text.TEXT_CLEANINGS
    image_fit: str = choice(  # images.IMAGE_FITS
        "centre_crop", "centre_crop_rounded", "stretch_bilinear", "stretch_lanczos"
    )


@dataclass
class DDIMSchema(MethodSchema):
    inverse_guidance: float | None


@dataclass
class DirectSchema(DDIMSchema):
    offset_scale: float = at_least(0.0)
    interval: int = at_least(1)
    add_target: bool


@dataclass
class NPISchema(DDIMSchema):
    npi_interp: float = at_least(0.0, 1.0)


@dataclass
class NTISchema(DDIMSchema):
    inner_steps: int = at_least(0)
    learning_rate: float = at_least(0.0)
    early_stop: float = at_least(0.0)
    single_branch: bool


@dataclass
class EDICTSchema(MethodSchema):
    mix_weight: float = at_least(0.0, 1.0)
    strength: float = at_least(0.0, 1.0)
    dtype: str = choice("float32", "float64")
    weights_dtype: str | None = choice("float16", "bfloat16", "float32")
    seed: int | None
    p2p: bool


@dataclass
class SentencesSchema:
    source: str | None = None
    target: str | None = None


@dataclass
class Pix2PixZeroSchema(MethodSchema):
    label: str
    steps_offset: int = at_least(1, 1)  # its inversion reads alpha-bar_{t-1}
    inversion: str = choice("ddim", "direct")
    clip_sample: bool | None
    caption: str = choice("source_prompt", "blip")
    caption_model: str
    lambda_ac: float = at_least(0.0)
    lambda_kl: float = at_least(0.0)
    reg_outer: int = at_least(0)
    reg_inner: int = at_least(1)
    allow_zero_shift: bool
    xa_guidance: float = at_least(0.0)
    sentences: SentencesSchema = field(default_factory=SentencesSchema)


@dataclass
class BLDSchema(MethodSchema):
    blending_percentage: float = at_least(0.0, 1.0)
    mask_shrink: int = at_least(0)
    start_from_source: bool
    decoder_finetune_steps: int = at_least(0)
    decoder_lr: float = at_least(0.0)
    decoder_background_weight: float = at_least(0.0)
    num_candidates: int = at_least(1)
    clip_model: str


@dataclass
class BenchSchema:
    warmup: bool
    baseline: bool
    baseline_limit: int | None = at_least(1)
    metrics: bool
    metric_networks: str = choice("configured", "random")
    out_dir: str
    work_dir: str | None


@dataclass
class ViewSchema:
    """The keys ``evaluate``, ``table``, ``leaderboard`` and ``report`` share."""

    runs: Any  # a folder or a list of folders (``load_config``)
    out: str | None
    rescore: bool
    scores_dir: str


METHOD_SCHEMAS: dict[str, type[MethodSchema]] = {
    "bld": BLDSchema,
    "ddim": DDIMSchema,
    "direct": DirectSchema,
    "edict": EDICTSchema,
    "npi": NPISchema,
    "nti": NTISchema,
    "pix2pix_zero": Pix2PixZeroSchema,
}


def _check(node: DictConfig, schema: type, prefix: str) -> None:
    values = {f.name: node[f.name] for f in fields(schema) if f.name in node}
    try:
        typed = OmegaConf.merge(OmegaConf.structured(schema), values)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        reason = str(err).splitlines()[0]
        if "is not a ListConfig" in reason:  # OmegaConf's words for a scalar given to a list
            reason = f"must be a list, e.g. {prefix}{key}=[1,2]"
        raise ConfigError(f"config key {prefix}{key}: {reason}") from None
    for spec in fields(schema):
        if spec.name not in values or typed[spec.name] is None:
            continue
        value = typed[spec.name]
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config key {prefix}{spec.name}={value}: must be a finite number")
        choices, bounds = spec.metadata.get("choices"), spec.metadata.get("range")
        if choices and value not in choices:
            raise ConfigError(
                f"config key {prefix}{spec.name}={value!r}: valid values "
                f"{', '.join(str(c).lower() if isinstance(c, bool) else c for c in choices)}"
            )
        if bounds and (value < bounds[0] or (bounds[1] is not None and value > bounds[1])):
            allowed = f">= {bounds[0]}" if bounds[1] is None else f"in [{bounds[0]}, {bounds[1]}]"
            raise ConfigError(f"config key {prefix}{spec.name}={value}: must be {allowed}")


def validate(cfg: DictConfig) -> None:
    """Raise ``ConfigError`` naming the first key that is unset (``???``) or whose value has the
    wrong type, choice or range."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(
            f"config key {missing[0]} must be set (e.g. data.root=/path/to/PIE-Bench for "
            "data=pie_bench)"
            if missing[0] == "data.root"
            else f"config key {missing[0]} must be set"
        )
    _check(cfg, RunSchema, "")
    name = PurePath(str(cfg.run_name))
    if not name.parts or name.is_absolute() or ".." in name.parts:
        raise ConfigError(
            f"config key run_name={str(cfg.run_name)!r}: must name a folder inside output_dir "
            "(not empty, not absolute, no '..')"
        )
    size = cfg.batch_size
    if size != "auto" and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise ConfigError(f"config key batch_size={size!r}: must be >= 1 or auto")
    workers = cfg.data.get("workers", 0)
    if workers != "auto" and (
        not isinstance(workers, int) or isinstance(workers, bool) or workers < 0
    ):
        raise ConfigError(f"config key data.workers={workers!r}: must be >= 0 or auto")
    _check(cfg.data, DataSchema, "data.")
    if int(cfg.data.resolution) % 8:  # the VAE's factor: other sizes would be cut silently
        raise ConfigError(
            f"config key data.resolution={cfg.data.resolution}: must be a multiple of 8"
        )
    _check(cfg.model, ModelSchema, "model.")
    if "bench" in cfg:
        _check(cfg.bench, BenchSchema, "bench.")
    schema = METHOD_SCHEMAS.get(str(cfg.method.name), MethodSchema)
    _check(cfg.method, schema, "method.")
    if "editor" in cfg.method:
        _check(cfg.method.editor, EditorSchema, "method.editor.")


def validate_view(cfg: DictConfig) -> None:
    """``validate`` for the scoring and report commands: the shared keys and the ``data``
    group (a ``ConfigError`` naming the first key of the wrong type or range)."""
    _check(cfg, ViewSchema, "")
    _check(cfg.data, DataSchema, "data.")
