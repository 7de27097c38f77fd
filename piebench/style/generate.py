"""``style generate``: text-to-image with the style noise, the N(0, I) baseline and (after
``style finetune``) the fine-tuned UNet, over the guidance grid.

Per model (``style.models``), guidance weight w and prompt-list image i (prompt i // k, k =
``style.images_per_prompt``): x_T = mu + sigma * eps(seed + i) (baseline: mu = 0, sigma = 1),
then DDIM (eta = 0) with classifier-free guidance through the shared sampler
(``piebench.sampler.loop.denoise``). Images land in ``<run>/generate/<model>/g<w>/<i>.png``
(atomic writes); ``<run>/generate/records.jsonl`` has one line per image (prompt, seed, the
digest of its model variant's inputs, seconds per image = batch time / batch size). A rerun skips
images already written with the same prompt, seed and inputs, so a killed run resumes, and an
image made before ``style fit`` or ``style finetune`` ran again is made again
(``piebench.style.provenance``).
"""

from __future__ import annotations

import dataclasses
import logging
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
from piebench.records import append_row, ends_cut_short, image_readable, parse_records
from piebench.sampler.loop import denoise
from piebench.sampler.schedule import DDIMSchedule, SchedulerConfig
from piebench.style.config import plain, run_dir, step_lock
from piebench.style.finetune import finetuned_unet_dir, load_finetuned_unet
from piebench.style.fit import load_fitted, noise_file
from piebench.style.noise import StyleNoise
from piebench.style.prompts import read_prompts
from piebench.style.provenance import digest, variant_source

logger = logging.getLogger(__name__)

GENERATE_DIR = "generate"
RECORDS = "records.jsonl"


@dataclass(frozen=True)
class Item:
    """One image to make: model, guidance weight, prompt-list index, prompt, seed, and the
    digest of the model variant's inputs (``source``)."""

    model: str
    guidance: float
    index: int
    prompt: str
    seed: int
    source: str

    @property
    def id(self) -> str:
        return f"{self.model}/{guidance_dir(self.guidance)}/{self.index:05d}"

    @property
    def file(self) -> str:
        return f"{self.id}.png"


def guidance_dir(guidance: float) -> str:
    """``g7.5``, ``g10``: one folder per guidance weight."""
    return f"g{guidance:g}"


def variant_sources(cfg: DictConfig) -> dict[str, dict]:
    """The inputs of each model of ``style.models`` (``provenance.variant_source``), read
    before any model loads: a missing ``style fit`` / ``finetune`` stops here."""
    return {
        name: variant_source(
            cfg,
            None if name == "baseline" else noise_file(cfg),
            finetuned_unet_dir(cfg) if name == "finetuned" else None,
        )
        for name in cfg.style.models
    }


def plan(cfg: DictConfig, prompts: list[str], sources: dict[str, dict]) -> list[Item]:
    """Every image of the run, model by model, then guidance, then prompt-list order."""
    per_prompt = int(cfg.style.images_per_prompt)
    digests = {name: digest(source) for name, source in sources.items()}
    return [
        Item(model, float(w), i, prompts[i // per_prompt], int(cfg.seed) + i, digests[model])
        for model in cfg.style.models
        for w in cfg.style.guidance
        for i in range(len(prompts) * per_prompt)
    ]


def made_records(out: Path, items: list[Item]) -> list[dict]:
    """The records of the planned items already made: a record with their prompt, seed and
    inputs, and a readable image (one emptied or of older inputs is made again)."""
    done, _ = parse_records(out / RECORDS) if (out / RECORDS).is_file() else ({}, [])
    return [
        done[i.id] for i in items if finished(done.get(i.id), i) and image_readable(out / i.file)
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
    """Make every missing image of the plan (one process at a time); returns
    ``<run>/generate``."""
    prompts, sources = read_prompts(cfg.style.prompts), variant_sources(cfg)  # checked first
    out = run_dir(cfg) / GENERATE_DIR
    out.mkdir(parents=True, exist_ok=True)
    with step_lock(out, "generate"):
        make_missing(cfg, out, model, prompts, sources)
    return out


def make_missing(
    cfg: DictConfig,
    out: Path,
    model: SDModel | None,
    prompts: list[str],
    sources: dict[str, dict],
) -> None:
    """The images of the plan not made yet, batch by batch, each written as it is done."""
    items = plan(cfg, prompts, sources)
    made = {record["id"] for record in made_records(out, items)}
    todo = [i for i in items if i.id not in made]
    write_json_atomic(
        {
            "prompts": prompts,
            "style": plain(cfg.style),
            "model": plain(cfg.model),
            "seed": cfg.seed,
            "sources": {name: {"digest": digest(s), **s} for name, s in sources.items()},
        },
        out / "generate.json",
    )
    logger.info("style generate: %d of %d images to make in %s", len(todo), len(items), out)
    if not todo:
        return
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


def finished(record: dict | None, item: Item) -> bool:
    """A record of this very image: same prompt, seed and inputs (a changed prompt list, seed,
    fitted noise or fine-tuned UNet makes the image again instead of keeping another one)."""
    return bool(record) and (record["prompt"], record["seed"], record.get("source")) == (
        item.prompt,
        item.seed,
        item.source,
    )


def append_record(path: Path, item: Item, seconds: float, batch_size: int) -> None:
    """One JSON line per finished image (flushed: a kill loses at most the batch in flight;
    a line a kill cut short is ended first)."""
    row = {
        **dataclasses.asdict(item),
        "id": item.id,
        "file": item.file,
        "status": "ok",
        "seconds": seconds,
        "batch_size": batch_size,
    }
    append_row(path, row, end_cut_line=ends_cut_short(path))
