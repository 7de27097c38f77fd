"""``style generate``: text-to-image with the style noise, the N(0, I) baseline and (after
``style finetune``) the fine-tuned UNet, over the guidance grid.

Per model (``style.models``), guidance weight w and prompt-list image i (prompt i // k, k =
``style.images_per_prompt``): x_T = mu + sigma * eps(seed + i) (baseline: mu = 0, sigma = 1),
then DDIM (eta = 0) with classifier-free guidance through the shared sampler
(``piebench.sampler.loop.denoise``). Images land in ``<run>/generate/<model>/g<w>/<i>.png``
(atomic writes); ``<run>/generate/records.jsonl`` has one line per image (prompt, seed, seconds
per image = batch time / batch size). A rerun skips images already written with the same prompt
and seed, so a killed run resumes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig
from tqdm import tqdm

from piebench.atomic_files import write_image_atomic, write_json_atomic
from piebench.config_schema import ConfigError
from piebench.models.loading import load_model
from piebench.models.sd import SDModel
from piebench.records import parse_records
from piebench.sampler.loop import denoise
from piebench.sampler.schedule import DDIMSchedule, SchedulerConfig
from piebench.style.config import plain, run_dir
from piebench.style.finetune import load_finetuned_unet
from piebench.style.fit import load_fitted
from piebench.style.noise import StyleNoise
from piebench.style.prompts import read_prompts

logger = logging.getLogger(__name__)

GENERATE_DIR = "generate"
RECORDS = "records.jsonl"


@dataclass(frozen=True)
class Item:
    """One image to make: model, guidance weight, prompt-list index, prompt, seed."""

    model: str
    guidance: float
    index: int
    prompt: str
    seed: int

    @property
    def id(self) -> str:
        return f"{self.model}/{guidance_dir(self.guidance)}/{self.index:05d}"

    @property
    def file(self) -> str:
        return f"{self.id}.png"


def guidance_dir(guidance: float) -> str:
    """``g7.5``, ``g10``: one folder per guidance weight."""
    return f"g{guidance:g}"


def plan(cfg: DictConfig, prompts: list[str]) -> list[Item]:
    """Every image of the run, model by model, then guidance, then prompt-list order."""
    per_prompt = int(cfg.style.images_per_prompt)
    return [
        Item(model, float(w), i, prompts[i // per_prompt], int(cfg.seed) + i)
        for model in cfg.style.models
        for w in cfg.style.guidance
        for i in range(len(prompts) * per_prompt)
    ]


def batches(items: list[Item], size: int) -> Iterator[list[Item]]:
    """Consecutive items of one (model, guidance) set, at most ``size`` each."""
    batch: list[Item] = []
    for item in items:
        same_set = batch and (item.model, item.guidance) == (batch[0].model, batch[0].guidance)
        if batch and (len(batch) == size or not same_set):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def model_variant(
    name: str, cfg: DictConfig, base: SDModel, shape: tuple[int, ...]
) -> tuple[SDModel, StyleNoise]:
    """(SDModel, StyleNoise) of ``baseline``, ``style`` (training-free) or ``finetuned``."""
    if name == "baseline":
        return base, StyleNoise.standard(shape)
    noise = load_fitted(cfg)
    if name == "style":
        return base, noise
    unet = load_finetuned_unet(cfg, base)
    return dataclasses.replace(base, unet=unet), noise


def generate_images(
    model: SDModel,
    noise: StyleNoise,
    schedule: DDIMSchedule,
    prompts: list[str],
    seeds: list[int],
    guidance: float,
    negative_prompt: str = "",
) -> torch.Tensor:
    """(B,4,h,w) x_0 latents of one batch: seeded style-noise x_T, DDIM + CFG."""
    latents = noise.sample(seeds).to(model.device)
    cond = model.encode_prompts(prompts)
    uncond = model.encode_prompts([negative_prompt]).expand(len(prompts), -1, -1)
    return denoise(model, schedule, latents, cond, uncond, guidance)


def run_generate(cfg: DictConfig, model: SDModel | None = None) -> Path:
    """Make every missing image of the plan; returns ``<run>/generate``."""
    out = run_dir(cfg) / GENERATE_DIR
    out.mkdir(parents=True, exist_ok=True)
    prompts = read_prompts(cfg.style.prompts)
    items = plan(cfg, prompts)
    done, _ = parse_records(out / RECORDS) if (out / RECORDS).is_file() else ({}, [])
    todo = [i for i in items if not (finished(done.get(i.id), i) and (out / i.file).is_file())]
    write_json_atomic(
        {
            "prompts": prompts,
            "style": plain(cfg.style),
            "model": plain(cfg.model),
            "seed": cfg.seed,
        },
        out / "generate.json",
    )
    logger.info("style generate: %d of %d images to make in %s", len(todo), len(items), out)
    if not todo:
        return out
    base = model or load_model(cfg.model)
    size = int(cfg.style.resolution) // 8
    shape = (int(base.unet.config.in_channels), size, size)
    schedule = DDIMSchedule(
        int(cfg.style.sample_steps),
        SchedulerConfig(
            prediction_type=base.prediction_type, steps_offset=int(cfg.style.steps_offset)
        ),
    )
    # every variant's inputs (fitted noise, fine-tuned UNet) are loaded and checked before the
    # first image, so a missing `style fit`/`finetune` stops the step before hours of work
    variants = {
        name: model_variant(name, cfg, base, shape) for name in dict.fromkeys(i.model for i in todo)
    }
    for _, noise in variants.values():
        if noise.shape != shape:
            raise ConfigError(
                f"style noise of shape {noise.shape} does not fit the model's latents {shape}: "
                "fit again with this model and style.resolution"
            )
    with tqdm(total=len(todo), disable=not cfg.progress, desc="style generate") as bar:
        for batch in batches(todo, int(cfg.style.batch_size)):
            variant, noise = variants[batch[0].model]
            started = time.perf_counter()
            latents = generate_images(
                variant,
                noise,
                schedule,
                [i.prompt for i in batch],
                [i.seed for i in batch],
                batch[0].guidance,
                str(cfg.style.negative_prompt),
            )
            images = variant.decode(latents)
            if variant.device.type == "cuda":
                torch.cuda.synchronize(variant.device)
            seconds = (time.perf_counter() - started) / len(batch)
            for item, image in zip(batch, images):
                write_image_atomic(image, out / item.file)
                append_record(out / RECORDS, item, seconds, len(batch))
            bar.update(len(batch))
    return out


def finished(record: dict | None, item: Item) -> bool:
    """A record of this very image: same prompt and seed (a changed prompt list or seed makes
    the image again instead of keeping one of another prompt)."""
    return bool(record) and (record["prompt"], record["seed"]) == (item.prompt, item.seed)


def append_record(path: Path, item: Item, seconds: float, batch_size: int) -> None:
    """One JSON line per finished image (flushed: a kill loses at most the batch in flight)."""
    row = {
        **dataclasses.asdict(item),
        "id": item.id,
        "file": item.file,
        "status": "ok",
        "seconds": seconds,
        "batch_size": batch_size,
    }
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())
