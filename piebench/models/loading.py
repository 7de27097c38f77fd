"""Build an ``SDModel`` from config: a hub id or local diffusers folder, or the tiny test model.

Loading never downloads silently into a failure deep inside a library: when the weights are
neither a local folder nor in the Hugging Face cache (and the hub is unreachable), we raise one
``ModelLoadError`` that says what to download and how to point ``model.path`` at it.
"""

from __future__ import annotations

import json
import logging
import socket
import warnings
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.models.attention_processor import AttnProcessor
from transformers import CLIPTextModel, CLIPTokenizer

from piebench.device import resolve_device
from piebench.models.cpu_half import accumulate_in_float32
from piebench.models.cpu_heap import keep_freed_memory
from piebench.models.fast_path import (
    autocast_dtype,
    compile_blocks,
    compile_mode,
    to_channels_last,
)
from piebench.models.sd import SDModel
from piebench.models.tiny import SD14_SHAPE, build_parts, tiny_shape
from piebench.models.weight_source import download_command, fetch_hint, names_local_folder
from piebench.p2p.layer_io import FusedAttnProcessor

log = logging.getLogger(__name__)

DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "fp16": torch.float16,
    "float16": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
}


# randomly initialised models built in code (no weights): the tests' tiny model, and SD 1.4's
# full shape for timing where no weights can be had
BUILT_IN_CODE = ("tiny", "sd14_random")


class ModelLoadError(RuntimeError):
    """The configured model cannot be loaded; the message says how to fix it."""


def resolve_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ModelLoadError(f"unknown model.dtype {name!r}; valid: fp32, fp16, bf16")
    return DTYPES[name]


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face endpoint answers a TCP connect (skips minutes of retries offline)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _from_pretrained(source: str, dtype: torch.dtype, local_only: bool) -> dict[str, Any]:
    kwargs = {"local_files_only": local_only}
    with warnings.catch_warnings():
        # diffusers 0.42 still passes an argument huggingface_hub 1.x ignores: noise before
        # every hub-id load (and before our own error when the weights are missing)
        warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
        return {
            "vae": AutoencoderKL.from_pretrained(
                source,
                subfolder="vae",
                torch_dtype=dtype,
                use_safetensors=_has_safetensors(source, "vae"),
                **kwargs,
            ),
            "unet": UNet2DConditionModel.from_pretrained(
                source,
                subfolder="unet",
                torch_dtype=dtype,
                use_safetensors=_has_safetensors(source, "unet"),
                **kwargs,
            ),
            "text_encoder": CLIPTextModel.from_pretrained(
                source, subfolder="text_encoder", torch_dtype=dtype, **kwargs
            ),
            "tokenizer": CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", **kwargs),
        }


def _has_safetensors(source: str, subfolder: str) -> bool | None:
    """For a local folder, whether ``subfolder`` holds ``.safetensors`` weights; None (let
    diffusers look) for a hub id. Saying so for a ``.bin``-only folder (e.g. the parity
    checkpoint) spares diffusers' two-line "no safetensors ... unsafe serialization" warning per
    network."""
    folder = Path(source) / subfolder
    return any(folder.glob("*.safetensors")) if folder.is_dir() else None


def _load_sd_parts(path: str, dtype: torch.dtype) -> dict[str, Any]:
    local = Path(path).expanduser()
    source = str(local) if local.is_dir() else path
    if names_local_folder(path) and not local.is_dir():
        raise ModelLoadError(
            f"model.path={path}: no such folder. Put a diffusers Stable Diffusion checkpoint "
            "there where you have internet, e.g.\n"
            f"  {download_command('CompVis/stable-diffusion-v1-4', local)}  (model=sd14)\n"
            f"  {download_command('stabilityai/stable-diffusion-2-1-base', local)}  "
            "(model=sd21base)\nor point model.path at the folder that holds one (vae/, unet/, "
            "text_encoder/, tokenizer/)."
        )
    if local.is_dir():
        missing = [
            p for p in ("vae", "unet", "text_encoder", "tokenizer") if not (local / p).is_dir()
        ]
        if missing:
            raise ModelLoadError(
                f"{local} is not a diffusers Stable Diffusion folder: missing {', '.join(m + '/' for m in missing)} "
                "(expected the layout of e.g. CompVis/stable-diffusion-v1-4: vae/, unet/, "
                "text_encoder/, tokenizer/)"
            )
    try:
        try:
            return _from_pretrained(source, dtype, local_only=True)
        except (OSError, ValueError):
            if local.is_dir() or not hub_reachable():
                raise
            log.info("%s is not in the local cache; downloading from the hub", path)
            return _from_pretrained(source, dtype, local_only=False)
    except (OSError, ValueError) as err:
        reason = str(err).splitlines()[0]
        if local.is_dir():  # a folder with the right layout whose files do not load
            raise ModelLoadError(
                f"cannot load Stable Diffusion weights from the folder {local}: {reason}"
            ) from None
        command, folder = fetch_hint(path, path)
        raise ModelLoadError(
            f"cannot load Stable Diffusion weights from {path!r}: {reason}\n"
            "The model is neither a local diffusers folder nor in the Hugging Face cache, and the hub "
            f"is unreachable. Download it where you have internet, e.g.\n  {command}\n"
            f"then run with model.path={folder} (or model=tiny for an offline smoke run)."
        ) from None


PREDICTION_TYPES = ("epsilon", "v_prediction")


def checkpoint_scheduler_config(path: str) -> dict[str, Any]:
    """A checkpoint's ``scheduler/scheduler_config.json`` (a local folder or the Hugging Face
    cache); {} when it has none."""
    folder = Path(path).expanduser()
    local = folder / "scheduler" / "scheduler_config.json"
    if folder.is_dir() and not local.is_file():
        return {}
    if not local.is_file():
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(path, "scheduler/scheduler_config.json")
        if not isinstance(found, str):
            return {}
        local = Path(found)
    return json.loads(local.read_text())


def checkpoint_prediction_type(path: str) -> str | None:
    """``prediction_type`` of a checkpoint's scheduler config, None when it has none. SD 2.x at
    768 px is v-prediction."""
    return checkpoint_scheduler_config(path).get("prediction_type")


def resolve_prediction_type(cfg: Any) -> str:
    """``model.prediction_type`` when set, else the checkpoint's, else epsilon."""
    chosen = cfg.get("prediction_type")
    if chosen is None and cfg.kind == "diffusers":
        chosen = checkpoint_prediction_type(str(cfg.path))
    chosen = str(chosen or "epsilon")
    if chosen not in PREDICTION_TYPES:
        raise ModelLoadError(
            f"unknown model.prediction_type {chosen!r}; valid: {', '.join(PREDICTION_TYPES)}"
        )
    return chosen


def _compile_mode(cfg: Any) -> str | None | Literal[False]:
    try:
        return compile_mode(cfg.get("compile", False))
    except ValueError as err:
        raise ModelLoadError(str(err)) from None


def configure_network(
    network: torch.nn.Module, cfg: Any, device: torch.device, dtype: torch.dtype
) -> torch.nn.Module:
    """One loaded network (UNet, VAE or text encoder, already in ``dtype``) set up as the
    ``model`` config says: on ``device`` for inference, its attention maths, the CPU fp16 path,
    the fast-path switches. Used for the checkpoint's networks and for a fine-tuned UNet alike,
    so both compute the same way."""
    attention = str(cfg.get("attention") or "sdpa")
    if attention not in ("sdpa", "explicit"):
        raise ModelLoadError(f"unknown model.attention {attention!r}; valid: sdpa, explicit")
    network = network.to(device).eval().requires_grad_(False)
    attends = hasattr(network, "set_attn_processor")  # UNet and VAE, not the text encoder
    if device.type == "cpu" and dtype == torch.float16:  # torch's fp16 CPU kernels are slow
        accumulate_in_float32(network)
        if attends and attention == "sdpa":
            network.set_attn_processor(FusedAttnProcessor())
    if attends and attention == "explicit":  # the reference's maths on every layer (slower)
        network.set_attn_processor(AttnProcessor())
    if attends and cfg.get("channels_last", False):
        to_channels_last(network)
    mode = _compile_mode(cfg)
    if isinstance(network, UNet2DConditionModel) and mode is not False:
        count = compile_blocks(network, mode=mode)
        log.info("model.compile: %d UNet blocks compile at their first call", count)
    return network


def load_model(cfg: Any) -> SDModel:
    """Load the model described by the ``model`` config group."""
    device, dtype = resolve_device(cfg.device), resolve_dtype(cfg.dtype)
    try:  # before any weights are read: a typo fails at once
        autocast = autocast_dtype(cfg.get("autocast"))
    except ValueError as err:
        raise ModelLoadError(str(err)) from None
    _compile_mode(cfg)
    if device.type == "cpu" and cfg.get("keep_cpu_heap", True):  # before the weights are read
        keep_freed_memory()
    if cfg.kind in BUILT_IN_CODE:
        # The tiny model is initialised on the CPU, so a seed gives the same weights everywhere;
        # sd14_random's weights only have to exist, so they are made where they run.
        shape, init_device = (
            (tiny_shape(cfg.tiny), torch.device("cpu"))
            if cfg.kind == "tiny"
            else (SD14_SHAPE, device)
        )
        parts = build_parts(shape, seed=int(cfg.seed), device=init_device)
        if dtype != torch.float32:
            parts = {
                k: (v.to(dtype) if isinstance(v, torch.nn.Module) else v) for k, v in parts.items()
            }
        name = str(cfg.kind)
    elif cfg.kind == "diffusers":
        parts = _load_sd_parts(str(cfg.path), dtype)
        name = str(cfg.path)
    else:
        raise ModelLoadError(
            f"unknown model.kind {cfg.kind!r}; valid: diffusers, {', '.join(BUILT_IN_CODE)}"
        )
    for key in ("vae", "unet", "text_encoder"):
        parts[key] = configure_network(parts[key], cfg, device, dtype)
    log.info("loaded model %s on %s (%s)", name, device, dtype)
    prediction_type = resolve_prediction_type(cfg)
    scheduler_config = checkpoint_scheduler_config(name) if cfg.kind == "diffusers" else {}
    return SDModel(
        device=device,
        dtype=dtype,
        name=name,
        prediction_type=prediction_type,
        explicit_attention=cfg.get("attention") == "explicit",
        scheduler_config=scheduler_config,
        autocast=autocast,
        **parts,
    )
