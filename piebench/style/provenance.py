"""What a style artifact was made from, as digests, so later steps can tell whether it still
stands.

``style fit`` can run again (other images, other model) after ``finetune`` and ``generate``
used its noise, and ``finetune`` can run again after ``generate`` used its UNet. Without a record
of their inputs, ``finetune`` would resume a checkpoint trained on the old noise and ``generate``
would keep images of the old noise or UNet as if they were the new ones. So:

- ``finetune`` writes ``finetune/training.json`` (``training_inputs``) before its first step and
  resumes only when the inputs now are the same (``check_resume``);
- every ``generate`` record carries the digest of its model variant's inputs
  (``variant_source``); an image whose digest differs is made again, and ``evaluate`` scores
  only images of the current digests.

Settings that change float rounding only (device, batch sizes, ``model.compile``,
``model.channels_last``, attention kernel) are left out, as the batch size is: changing them does
not make a different model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from piebench.config_schema import ConfigError
from piebench.style.config import plain

# model keys that change what the model computes (the rest change rounding or speed only)
MODEL_KEYS = ("kind", "path", "tiny", "seed", "prediction_type", "dtype", "autocast")
# style keys that change what fine-tuning learns (not: steps, checkpointing, encode batch)
TRAINING_KEYS = (
    "resolution",
    "train_batch_size",
    "learning_rate",
    "adam_beta1",
    "adam_beta2",
    "adam_weight_decay",
    "adam_epsilon",
    "max_grad_norm",
    "ema",
    "ema_decay",
    "mixed_precision",
    "target",
    "train_prompt",
)
TRAINING_FILE = "training.json"
CHUNK = 1 << 24


def files_sha256(paths: Sequence[Path]) -> str:
    """sha256 over the files' bytes in the given order (read in chunks: a UNet is gigabytes)."""
    h = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
    return h.hexdigest()


def folder_sha256(folder: Path) -> str:
    """sha256 over every file of ``folder`` (names and bytes, sorted by relative name)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for path in files:
        h.update(str(path.relative_to(folder)).encode() + b"\0" + files_sha256([path]).encode())
    return h.hexdigest()


def model_inputs(cfg: DictConfig) -> dict[str, Any]:
    """The ``model.*`` keys that define the model (``MODEL_KEYS``)."""
    model = plain(cfg.model)
    return {key: model.get(key) for key in MODEL_KEYS}


def image_digests(paths: Sequence[Path]) -> dict[str, str]:
    """``{file name: sha256}`` of the style images, in ``paths`` order."""
    return {p.name: files_sha256([p]) for p in paths}


def training_inputs(cfg: DictConfig, noise_file: Path, images: Mapping[str, str]) -> dict:
    """Everything a fine-tuning step draws on: the fitted noise, the style images
    (``image_digests``), the model, the seed and the ``TRAINING_KEYS`` settings."""
    return {
        "noise_sha256": files_sha256([noise_file]),
        "style_images": dict(images),
        "model": model_inputs(cfg),
        "seed": int(cfg.seed),
        "style": {key: plain(cfg.style)[key] for key in TRAINING_KEYS},
    }


def check_resume(saved: Mapping[str, Any] | None, now: Mapping[str, Any], folder: Path) -> None:
    """A ``ConfigError`` naming what changed when the checkpoints in ``folder`` were trained on
    other inputs than ``now`` (or their inputs were not recorded)."""
    if saved == now:
        return
    if saved is None:
        changed = f"no {TRAINING_FILE} records what they were trained on"
    else:
        changed = "changed since: " + ", ".join(differences(saved, now))
    raise ConfigError(
        f"{folder} holds checkpoints of another training ({changed}); remove that folder to "
        "train again from the start, or pick another run folder with style.name=..."
    )


def differences(saved: Mapping[str, Any], now: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the keys whose values differ (``noise_sha256``: "style fit ran again")."""
    out = []
    for key in sorted(set(saved) | set(now)):
        old, new = saved.get(key), now.get(key)
        if old == new:
            continue
        if key == "noise_sha256":
            out.append("the style noise (style fit ran again)")
        elif key == "unet_sha256":
            out.append("the fine-tuned UNet (style finetune ran again)")
        elif key == "style_images":
            out.append("the style images")
        elif isinstance(old, Mapping) and isinstance(new, Mapping):
            out += differences(old, new, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key} {old!r} -> {new!r}")
    return out


def read_training(folder: Path) -> dict | None:
    """The recorded training inputs of ``folder`` (None: none recorded)."""
    path = folder / TRAINING_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def variant_source(cfg: DictConfig, noise_file: Path | None, unet_folder: Path | None) -> dict:
    """The inputs of one ``style generate`` model variant: model, sampling settings, and the
    digests of the fitted noise (not for the baseline) and the fine-tuned UNet (``finetuned``)."""
    style = plain(cfg.style)
    return {
        "model": model_inputs(cfg),
        "resolution": style["resolution"],
        "sample_steps": style["sample_steps"],
        "steps_offset": style["steps_offset"],
        "negative_prompt": style["negative_prompt"],
        "noise_sha256": files_sha256([noise_file]) if noise_file else None,
        "unet_sha256": folder_sha256(unet_folder) if unet_folder else None,
    }


def digest(value: Mapping[str, Any]) -> str:
    """Short stable digest of a JSON-able mapping (what a record stores)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
