"""``style finetune``: train a copy of the UNet with the style noise in the forward process.

    z_t = sqrt(a_t) z_0 + sqrt(1 - a_t) eps_s,   eps_s = mu + sigma * eps,   eps ~ N(0, I)
    loss = || f_theta(z_t, t, c) - target ||^2,  target = eps_s (paper; ``style.target``:
           ``unit_noise`` regresses eps instead); v-prediction models regress
           sqrt(a_t) target - sqrt(1 - a_t) z_0

z_0 are the style images' latents (as ``fit`` encodes them), t ~ U{0..999}, c the encoded
``style.train_prompt``. Each step draws its images, t and eps from a CPU generator seeded with
``seed + step``, so a resumed run draws what an uninterrupted one would. The standard diffusers
training pieces: AdamW, optional ``diffusers.training_utils.EMAModel``, gradient checkpointing,
mixed precision and checkpoints through ``accelerate`` (``<run>/finetune/checkpoint-<step>/``,
the last ``style.keep_checkpoints`` kept; a rerun resumes from the last one when
``finetune/training.json`` shows it was trained on the same noise, images and settings, and
refuses otherwise: ``piebench.style.provenance``). The result is
``<run>/finetune/unet/`` (EMA weights when ``style.ema``); the base model is never modified.
"""

from __future__ import annotations

import copy
import logging
import re
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from diffusers import UNet2DConditionModel
from diffusers.training_utils import EMAModel
from omegaconf import DictConfig
from tqdm import tqdm

from piebench.atomic_files import write_json_atomic
from piebench.config_schema import ConfigError
from piebench.models.loading import configure_network, load_model
from piebench.models.sd import SDModel
from piebench.sampler.schedule import DDIMSchedule, SchedulerConfig
from piebench.style.config import check_not_running, plain, run_dir, step_lock
from piebench.style.fit import (
    check_fitted_on,
    load_fitted,
    noise_file,
    style_image_paths,
    style_latents,
)
from piebench.style.noise import StyleNoise
from piebench.style.provenance import (
    TRAINING_FILE,
    check_resume,
    files_sha256,
    image_digests,
    read_training,
    training_inputs,
)

logger = logging.getLogger(__name__)

FINETUNE_DIR = "finetune"
UNET_DIR = "unet"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def finetune_dir(cfg: DictConfig) -> Path:
    return run_dir(cfg) / FINETUNE_DIR


def checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every finished checkpoint, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT.match(p.name))]
    return sorted(found)


def noisy_latents(z0: torch.Tensor, eps_s: torch.Tensor, a_t: torch.Tensor) -> torch.Tensor:
    """z_t = sqrt(a_t) z_0 + sqrt(1 - a_t) eps_s, with a_t of shape (B,1,1,1)."""
    return a_t.sqrt() * z0 + (1 - a_t).sqrt() * eps_s


def draw_batch(
    latents: torch.Tensor, noise: StyleNoise, seed: int, batch_size: int, num_train: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(z_0, t, eps, eps_s) of one step from a generator seeded with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.randint(len(latents), (batch_size,), generator=g)
    t = torch.randint(num_train, (batch_size,), generator=g)
    eps = torch.randn((batch_size, *latents.shape[1:]), generator=g)
    return latents[rows], t, eps, noise.mu + noise.sigma * eps


def run_finetune(cfg: DictConfig, model: SDModel | None = None) -> Path:
    """Train to ``style.steps`` (resuming from the last checkpoint); returns ``<run>/finetune``."""
    out = finetune_dir(cfg)
    if int(cfg.style.steps) == 0:
        logger.info("style.steps=0: training-free, nothing to fine-tune")
        return out
    noise_path, paths = noise_file(cfg), style_image_paths(cfg)  # checked before any folder
    images = image_digests(paths)
    check_fitted_on(cfg, images)
    out.mkdir(parents=True, exist_ok=True)
    with step_lock(out, "finetune"):
        train(cfg, out, model, paths, training_inputs(cfg, noise_path, images))
    return out


def train(
    cfg: DictConfig, out: Path, model: SDModel | None, paths: list[Path], inputs: dict
) -> None:
    """Resume or start the training in ``out`` on the style images ``paths`` and the inputs
    ``inputs`` records (``provenance.training_inputs``), run it to ``style.steps`` and save the
    UNet."""
    style = cfg.style
    steps = int(style.steps)
    done = resumable_checkpoints(out, inputs, steps)
    noise = load_fitted(cfg)
    base = model or load_model(cfg.model)
    latents = style_latents(cfg, base, paths)
    if tuple(latents.shape[1:]) != noise.shape:
        raise ConfigError(
            f"style noise {noise.shape} vs latents {tuple(latents.shape[1:])}: fit again"
        )
    schedule = DDIMSchedule(1, SchedulerConfig(prediction_type=base.prediction_type))
    alphas = schedule.alphas_cumprod.float()
    cond = base.encode_prompts([str(style.train_prompt)]).float()

    accelerator = Accelerator(
        mixed_precision=str(style.mixed_precision), cpu=base.device.type == "cpu"
    )
    unet = copy.deepcopy(base.unet).float().train().requires_grad_(True)
    if style.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(
        unet.parameters(),
        lr=float(style.learning_rate),
        betas=(float(style.adam_beta1), float(style.adam_beta2)),
        weight_decay=float(style.adam_weight_decay),
        eps=float(style.adam_epsilon),
    )
    ema = (
        EMAModel(unet.parameters(), decay=float(style.ema_decay), foreach=False)
        if style.ema
        else None
    )
    unet, optimizer = accelerator.prepare(unet, optimizer)
    if ema is not None:
        ema.to(accelerator.device)
        accelerator.register_for_checkpointing(ema)
    start = done[-1][0] if done else 0
    if done:
        accelerator.load_state(str(done[-1][1]))
        logger.info("style finetune: resuming from %s", done[-1][1])

    batch = int(style.train_batch_size)
    losses = []
    for step in tqdm(range(start, steps), disable=not cfg.progress, desc="style finetune"):
        z0, t, eps, eps_s = draw_batch(latents, noise, int(cfg.seed) + step, batch, len(alphas))
        a_t = alphas[t].view(-1, 1, 1, 1)
        z_t = noisy_latents(z0, eps_s, a_t).to(accelerator.device)
        target = eps_s if style.target == "style_noise" else eps
        if base.prediction_type == "v_prediction":
            target = a_t.sqrt() * target - (1 - a_t).sqrt() * z0
        context = cond.expand(batch, -1, -1).to(accelerator.device)
        with accelerator.autocast():
            pred = unet(z_t, t.to(accelerator.device), encoder_hidden_states=context).sample
        loss = F.mse_loss(pred.float(), target.to(accelerator.device))
        accelerator.backward(loss)
        if style.max_grad_norm is not None:
            accelerator.clip_grad_norm_(unet.parameters(), float(style.max_grad_norm))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(unet.parameters())
        losses.append(float(loss.detach()))
        if (step + 1) % int(style.checkpoint_every) == 0 or step + 1 == steps:
            save_checkpoint(accelerator, out, step + 1, int(style.keep_checkpoints))

    trained = accelerator.unwrap_model(unet)
    if ema is not None:
        ema.copy_to(trained.parameters())
    save_unet(trained, out / UNET_DIR)
    write_json_atomic(
        {
            "steps": steps,
            "resumed_from": start,
            "losses": losses,
            "style": plain(style),
            "model": plain(cfg.model),
            "unet": str(out / UNET_DIR),
        },
        out / "finetune.json",
    )


def resumable_checkpoints(out: Path, inputs: dict, steps: int) -> list[tuple[int, Path]]:
    """The checkpoints to resume from, after checking they were trained on ``inputs`` (a
    ``ConfigError`` names what changed) and reach no further than ``steps``; with none, records
    ``inputs`` for the next resume."""
    done = checkpoints(out)
    if not done:
        write_json_atomic(inputs, out / TRAINING_FILE)
        return done
    check_resume(read_training(out), inputs, out)
    if done[-1][0] > steps:
        raise ConfigError(
            f"{done[-1][1]} is past style.steps={steps}: set style.steps>={done[-1][0]}, or "
            f"remove {out} to train again from the start"
        )
    return done


def save_checkpoint(accelerator: Accelerator, folder: Path, step: int, keep: int) -> None:
    """accelerate state into ``checkpoint-<step>`` (written beside, then renamed), keeping the
    last ``keep``."""
    final = folder / f"checkpoint-{step:06d}"
    tmp = folder / f".checkpoint-{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    accelerator.save_state(str(tmp))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for _, old in checkpoints(folder)[:-keep]:
        shutil.rmtree(old)


def save_unet(unet: UNet2DConditionModel, folder: Path) -> None:
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    unet.save_pretrained(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def finetuned_unet_dir(cfg: DictConfig) -> Path:
    """The run's fine-tuned UNet folder; a clear error when ``style finetune`` has not made it,
    or made it with another style noise than the run's (``style fit`` ran again since: sampling
    the new noise with a UNet trained on the old one would mix two models)."""
    folder = finetune_dir(cfg) / UNET_DIR
    if not folder.is_dir():
        raise ConfigError(
            f"style.models has 'finetuned' but {folder} does not exist: run "
            "`python -m piebench style finetune style.steps=N` first"
        )
    check_not_running(finetune_dir(cfg), "finetune")
    trained = read_training(finetune_dir(cfg))
    if trained and trained["noise_sha256"] != files_sha256([noise_file(cfg)]):
        raise ConfigError(
            f"{folder} was trained on an earlier style noise (style fit ran again since): "
            f"remove {finetune_dir(cfg)} and run `style finetune` again"
        )
    return folder


def load_finetuned_unet(cfg: DictConfig, base: SDModel) -> UNet2DConditionModel:
    """The fine-tuned UNet of the run, set up for inference as the base model's UNet is (dtype,
    device, attention maths, the CPU fp16 path and fast-path switches of ``cfg.model``)."""
    folder = finetuned_unet_dir(cfg)
    unet = UNet2DConditionModel.from_pretrained(folder, torch_dtype=base.dtype)
    return configure_network(unet, cfg.model, base.device, base.dtype)
