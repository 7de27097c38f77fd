"""``style evaluate``: FID / KID of every (model, guidance) set of ``style.models`` x
``style.guidance`` against the style images and the CLIP score of every image against its
prompt.

Only the images the same ``style generate`` config would keep are scored (``generate.made_records``:
this prompt list, seeds and model inputs); sets generated earlier with other settings are left
out, and a warning counts planned images still missing or made from older inputs.

Features come from the standard FID Inception (``metrics.fid.inception_weights``, resize
``metrics.fid.resize``; ``piebench.metrics.fid``); the style images are prepared as ``fit``
prepares them (centre square, model resolution). CLIP is the metrics suite's scorer
(``metrics.clip.path``, max(100 cos, 0)). Writes to ``<run>/evaluate/``: ``scores.csv`` and
``scores.md`` (one row per planned model and guidance, n 0 for a set not made yet: n, fid, kid_mean, kid_std, clip_score,
seconds_per_image), ``per_image.csv`` (CLIP per image), ``fid_clip.png`` and ``evaluate.json``
(networks, resize mode, style images).

FID is what style outputs are judged by, so ``metrics.fid.enabled=auto`` (the default) and
``true`` both require the Inception weights here (one error naming the file when they are
missing); ``metrics.fid.enabled=false`` scores CLIP only, leaving fid/kid empty and drawing no
FID-CLIP figure.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from PIL import Image

from piebench.atomic_files import write_json_atomic
from piebench.config_schema import ConfigError
from piebench.metrics.fid import fid_from_features, kid_from_features
from piebench.metrics.networks import MetricNetworks
from piebench.models.sd import images_to_tensor
from piebench.scoring.tables import caption, render
from piebench.style.config import plain, run_dir, style_images_dir
from piebench.style.curves import save_fid_clip
from piebench.style.generate import GENERATE_DIR, RECORDS, made_records, plan, variant_sources
from piebench.style.images import list_style_images, load_style_images
from piebench.style.prompts import read_prompts
from piebench.style.provenance import differences

logger = logging.getLogger(__name__)

EVALUATE_DIR = "evaluate"
TABLE_COLUMNS = (
    "model",
    "guidance",
    "n",
    "fid",
    "kid_mean",
    "kid_std",
    "clip_score",
    "seconds_per_image",
)


@torch.no_grad()
def inception_features(
    networks: MetricNetworks, images: Sequence[np.ndarray], batch_size: int
) -> torch.Tensor:
    """(N,2048) float64 features of uint8 images, in batches."""
    chunks = [
        networks.inception(
            images_to_tensor(images[i : i + batch_size]).float().div(255).to(networks.device)
        )
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(chunks).double().cpu()


def generated_images(cfg: DictConfig) -> pd.DataFrame:
    """The records of the config's planned images that are made (``model, guidance, prompt,
    file, seconds`` ...); a warning counts the planned ones not made (or made from other
    inputs)."""
    folder = run_dir(cfg) / GENERATE_DIR
    if not (folder / RECORDS).is_file():
        raise ConfigError(f"no generated images at {folder}: run `style generate` first")
    sources = variant_sources(cfg)
    items = plan(cfg, read_prompts(cfg.style.prompts), sources)
    made = made_records(folder, items)
    why = _changed_since_generate(folder, sources)
    if not made:
        raise ConfigError(
            f"none of the {len(items)} images of style.models={list(cfg.style.models)} x "
            f"style.guidance={list(cfg.style.guidance)} in {folder} is made from the current "
            f"inputs ({why}): run `style generate` with the same settings"
        )
    if len(made) < len(items):
        logger.warning(
            "style evaluate: %d of %d planned images are missing or were made from other "
            "inputs (%s): scoring the %d made; run `style generate` to complete the sets",
            len(items) - len(made),
            len(items),
            why,
            len(made),
        )
    return pd.DataFrame(made)


def _changed_since_generate(folder: Path, sources: dict[str, dict]) -> str:
    """What differs between the current inputs of each model and those of the last
    ``style generate`` (its ``generate.json``), e.g. ``style: sample_steps 3 -> 2``; else why
    planned images may still be absent."""
    summary = folder / "generate.json"
    last = json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else {}
    changed = []
    for name, now in sources.items():
        then = {k: v for k, v in last.get("sources", {}).get(name, {}).items() if k != "digest"}
        now = json.loads(json.dumps(now, default=str))  # as generate.json holds it
        if then and then != now:
            changed.append(f"{name}: {', '.join(differences(then, now))}")
    if changed:
        return "changed since the last `style generate`: " + "; ".join(changed)
    return "not generated yet, or generate was stopped"


def score_sets(
    frame: pd.DataFrame,
    sets: Sequence[tuple[str, float]],
    folder: Path,
    real: torch.Tensor | None,
    networks: MetricNetworks,
    batch_size: int,
    kid: tuple[int, int],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, per-image frame with ``clip_score``): one row per planned (model, guidance) set
    of ``sets``, in that order; a set with no image made yet is a row with n 0 and no scores
    (not left out of a sweep's table). ``real`` None (FID off) leaves fid and kid NaN."""
    rows, per_image = [], []
    made = dict(iter(frame.groupby(["model", "guidance"], sort=False)))
    for model, guidance in sets:
        group = made.get((model, guidance))
        if group is None:
            rows.append({"model": model, "guidance": guidance, "n": 0})
            continue
        images = [np.asarray(Image.open(folder / f).convert("RGB")) for f in group["file"]]
        clip = torch.cat(
            [
                networks.clip.score(
                    images_to_tensor(images[i : i + batch_size]),
                    list(group["prompt"][i : i + batch_size]),
                )
                for i in range(0, len(images), batch_size)
            ]
        ).numpy()
        per_image.append(group.assign(clip_score=clip))
        rows.append(
            {
                "model": model,
                "guidance": float(guidance),
                "n": len(group),
                **set_distances(real, networks, images, batch_size, kid),
                "clip_score": float(clip.mean()),
                "seconds_per_image": float(group["seconds"].mean()),
            }
        )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS)), pd.concat(per_image)


def set_distances(
    real: torch.Tensor | None,
    networks: MetricNetworks,
    images: Sequence[np.ndarray],
    batch_size: int,
    kid: tuple[int, int],
) -> dict[str, float]:
    """``fid, kid_mean, kid_std`` of one generated set against the style images' features."""
    if real is None:
        return {"fid": float("nan"), "kid_mean": float("nan"), "kid_std": float("nan")}
    fake = inception_features(networks, images, batch_size)
    kid_mean, kid_std = kid_from_features(real, fake, kid[0], kid[1])
    return {"fid": fid_from_features(real, fake), "kid_mean": kid_mean, "kid_std": kid_std}


def fid_on(cfg: DictConfig) -> bool:
    """FID/KID unless ``metrics.fid.enabled`` is false (auto counts as on: see the module doc)."""
    enabled = (cfg.metrics.get("fid") or {}).get("enabled", "auto")
    return str(enabled).lower() in {"auto", "true", "1"}


def run_evaluate(cfg: DictConfig, networks: MetricNetworks | None = None) -> Path:
    """Score the run's generated sets; returns ``<run>/evaluate``."""
    run = run_dir(cfg)
    frame = generated_images(cfg)
    networks = networks or MetricNetworks(plain(cfg.metrics))
    batch_size = int(cfg.metrics.batch_size)
    paths = list_style_images(style_images_dir(cfg), list(cfg.style.extensions))
    with_fid = fid_on(cfg)
    networks.require(["clip", "inception"] if with_fid else ["clip"])
    real = (
        inception_features(
            networks, load_style_images(paths, int(cfg.style.resolution)), batch_size
        )
        if with_fid
        else None
    )
    kid = (int(cfg.style.kid_subsets), int(cfg.style.kid_subset_size))
    sets = [(str(model), float(w)) for model in cfg.style.models for w in cfg.style.guidance]
    table, per_image = score_sets(frame, sets, run / GENERATE_DIR, real, networks, batch_size, kid)
    out = run / EVALUATE_DIR
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "scores.csv", index=False)
    per_image.to_csv(out / "per_image.csv", index=False)
    header = f"Diffusion in Style, {run.name}: " + (
        f"FID/KID vs {len(paths)} style images ({networks.fid_resize_text}), CLIP score vs prompts"
        if with_fid
        else "CLIP score vs prompts (FID/KID off: metrics.fid.enabled=false)"
    )
    shown = render(readable(table), "markdown")
    (out / "scores.md").write_text(
        caption(header, "markdown") + "\n\n" + shown + "\n", encoding="utf-8"
    )
    if with_fid:
        save_fid_clip(table, out / "fid_clip.png", f"{run.name}: FID-CLIP over guidance")
    write_json_atomic(
        {
            "networks": networks.describe(),
            "style_images": [p.name for p in paths],
            "n_style_images": len(paths),
            "kid_subsets": kid[0],
            "kid_subset_size": kid[1],
        },
        out / "evaluate.json",
    )
    print(header)
    print(shown)
    return out


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """The table for reading: KID x10^3 (its values are ~1e-3), arrows on the scores."""
    shown = table.copy()
    shown[["kid_mean", "kid_std"]] *= 1e3
    return shown.rename(
        columns={
            "fid": "fid ↓",
            "kid_mean": "kid_mean ×10³ ↓",
            "kid_std": "kid_std ×10³",
            "clip_score": "clip_score ↑",
        }
    )
