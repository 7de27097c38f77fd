"""The fast path: execution switches that trade the reference's exact numerics for speed.

Every switch is off by default, so a default run computes what the parity tests pin down; a run
that turns one on says so in its manifest and bench row (the switches are ``model.*`` keys).

- ``model.autocast`` (bf16 | fp16): the UNet runs under ``torch.autocast``, so its matmuls and
  convolutions use that dtype while its weights, the latents and the DDIM arithmetic stay in
  ``model.dtype``; softmax and norms keep autocast's float32 policy. The VAE and the text encoder
  are left alone: they run once per image, and SD 1.x's VAE is where reduced precision shows.
- ``model.channels_last``: UNet and VAE weights in NHWC, which cuDNN's convolutions prefer.
- ``model.compile``: ``torch.compile`` of every UNet block that attention control never touches
  (ResNet blocks, feed-forwards, down/up-samplers). Compiling whole-UNet graphs would be undone
  at every batch, because P2P and pix2pix-zero swap the attention processors per batch; the
  blocks in between are most of the non-attention work. The first call at each new shape
  compiles (tens of seconds): ``bench`` runs an untimed warm-up batch first.
  ``model.compile=reduce-overhead`` also replays each compiled block as a CUDA graph (on a GPU;
  a CPU run ignores it), ``max-autotune`` benchmarks kernel choices while compiling.
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

import torch
from diffusers.models.attention import FeedForward
from diffusers.models.resnet import Downsample2D, ResnetBlock2D, Upsample2D

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
COMPILED_BLOCKS = (ResnetBlock2D, FeedForward, Downsample2D, Upsample2D)
# model.compile: false, true (torch.compile's default mode) or one of its named modes
COMPILE_MODES = ("reduce-overhead", "max-autotune")
# compiled variants allowed per compiled block (see compile_blocks): gradient on/off x batch 1 or
# more x two precisions (EDICT's float64 copy)
VARIANTS_PER_BLOCK = 8


def describe(model_cfg: Any) -> str:
    """The switches that are on, e.g. ``autocast=bf16 channels_last compile``; ``off`` for none."""
    on = []
    if model_cfg.get("autocast"):
        on.append(f"autocast={model_cfg.autocast}")
    if model_cfg.get("channels_last", False):
        on.append("channels_last")
    mode = compile_mode(model_cfg.get("compile", False))
    if mode is not False:
        on.append("compile" if mode is None else f"compile={mode}")
    return " ".join(on) or "off"


def compile_mode(setting: bool | str) -> str | None | Literal[False]:
    """``torch.compile``'s ``mode`` for a ``model.compile`` setting: False for no compiling,
    None for torch's default mode (``true``), else the named mode."""
    if setting is False or setting is True:
        return None if setting else False
    if setting not in COMPILE_MODES:
        raise ValueError(
            f"unknown model.compile {setting!r}; valid: false, true, {', '.join(COMPILE_MODES)}"
        )
    return str(setting)


def autocast_dtype(name: str | None) -> torch.dtype | None:
    """The dtype of ``model.autocast`` (None: off)."""
    if name is None:
        return None
    if name not in AUTOCAST_DTYPES:
        raise ValueError(f"unknown model.autocast {name!r}; valid: null, bf16, fp16")
    return AUTOCAST_DTYPES[name]


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> Any:
    """``torch.autocast`` for ``dtype`` on ``device``, or a no-op context when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_channels_last(*modules: torch.nn.Module) -> None:
    """Put the 4-D weights of ``modules`` in NHWC memory format (in place)."""
    for module in modules:
        module.to(memory_format=torch.channels_last)


def compile_blocks(
    unet: torch.nn.Module, backend: str = "inductor", mode: str | None = None
) -> int:
    """Compile, in place, every block of ``unet`` that attention processors never replace;
    returns how many were compiled.

    ``dynamic=True``: batch sizes change (the last batch, OOM halves) without a recompile per
    size. The blocks of one class share one ``forward``, whose compiled variants count against
    dynamo's per-function recompile limit (8 by default), past which it silently runs them
    eagerly: one variant per block shape, times the gradient mode (NTI and pix2pix-zero run
    both), times batch size 1 or more (dynamo specialises size 1), plus EDICT's float64 copy.
    The limits are raised to ``VARIANTS_PER_BLOCK`` variants per block. ``mode``:
    ``torch.compile``'s (``reduce-overhead``: CUDA graphs, one recording per shape)."""
    blocks = [m for m in unet.modules() if isinstance(m, COMPILED_BLOCKS)]
    config = torch._dynamo.config
    config.recompile_limit = max(config.recompile_limit, VARIANTS_PER_BLOCK * len(blocks))
    config.accumulated_recompile_limit = max(
        config.accumulated_recompile_limit, 2 * VARIANTS_PER_BLOCK * len(blocks)
    )
    for block in blocks:
        block.compile(backend=backend, mode=mode, dynamic=True)
    return len(blocks)
