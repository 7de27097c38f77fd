"""The baseline of ``bench``: one sample at a time, fp32, explicit attention on every layer, and
every pass the reference (cure-lab/PnPInversion ``run_editing_p2p.py``) runs per image.

Per image the reference runs (UNet rows per step in brackets, 50 steps each):

- every P2P method: VAE encode, a VAE decode of the source latents (its ``image_rec``), DDIM
  inversion with the source prompt [1], the P2P edit [4], a VAE decode of both edit rows;
- ``ddim``: + the guided loop of ``NullInversion.null_optimization`` that still runs with zero
  inner steps [2] + a reconstruction from x_T with the source prompt [2] and its decode;
- ``npi``: + the reconstruction [2] and its decode;
- ``nti``: + the null-text optimisation (ours, which the method runs anyway) + the
  reconstruction [2] and its decode;
- ``direct``: + the offset pass [4] + a display reconstruction of both prompts with the offsets
  [4] and the decode of its two rows.

We run those passes with our components on the same data, so the ratio measures what batching, the
dropped passes and fused attention save, not two code bases. Emulated at equal cost (same rows,
same steps), not equal values: Direct's offset pass is a second 4-row pass with the source row put
back on the trajectory. Not emulated, so the baseline is if anything too fast: the reference's
attention store during reconstructions, the second null row of each NTI step, its text rendering
and JPEG strip, and its recomputing the first self-attention in every call of a null-text step (the
baseline's null-text loops reuse it, as ours do). Other methods (no reference pass structure known
here) get our own invert + edit at batch 1, fp32, explicit attention.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from piebench.data.pie_bench import Sample
from piebench.methods import Batch, EditMethod, Inversion
from piebench.methods.direct import SourceOnTrajectory
from piebench.methods.nti import NullTextSettings, optimise_null
from piebench.methods.p2p_edit import P2PEditMethod, interleave
from piebench.runner import sync_device
from piebench.sampler.loop import denoise


@dataclass(frozen=True)
class ReferencePasses:
    """The passes the reference runs per image beyond inversion and the edit."""

    null_loop: bool = False  # NullInversion's guided 2-row loop (DDIM: zero inner steps)
    reconstruction: bool = False  # x_T -> x_0 with the source prompt (2 rows), decoded
    offset_passes: int = 0  # Direct: 4-row passes over both prompts (offsets, reconstruction)
    description: str = "our invert + edit at batch 1"


REFERENCE_PASSES: dict[str, ReferencePasses] = {
    "ddim": ReferencePasses(
        null_loop=True,
        reconstruction=True,
        description="inversion + NullInversion loop (0 inner steps) + reconstruction + edit",
    ),
    "npi": ReferencePasses(reconstruction=True, description="inversion + reconstruction + edit"),
    "nti": ReferencePasses(
        reconstruction=True,
        description="inversion + null-text optimisation + reconstruction + edit",
    ),
    "direct": ReferencePasses(
        offset_passes=2,
        description="inversion + offset pass + display reconstruction + edit",
    ),
}


def passes_of(method_name: str) -> ReferencePasses:
    return REFERENCE_PASSES.get(method_name, ReferencePasses())


def _both_prompt_passes(method: P2PEditMethod, batch: Batch, inversion: Inversion, n: int) -> list:
    """Direct's offset pass and display reconstruction: 2 latents x CFG = 4 rows each."""
    model = method.model
    cond = model.encode_prompts(interleave(batch.source_prompts, batch.target_prompts))
    uncond = model.encode_prompts([""]).expand(2 * len(batch), -1, -1)
    x_t = inversion.trajectory[-1].repeat_interleave(2, dim=0)
    hook = SourceOnTrajectory(inversion.trajectory)
    guidance = float(method.cfg.guidance)
    return [denoise(model, method.schedule, x_t, cond, uncond, guidance, [hook]) for _ in range(n)]


def reference_extras(
    method: EditMethod, batch: Batch, inversion: Inversion, passes: ReferencePasses
) -> list[torch.Tensor]:
    """Run the reference's extra passes; returns the latents it decodes besides the edit's."""
    decoded = [inversion.latents]  # the reference decodes the source latents (image_rec)
    if not isinstance(method, P2PEditMethod):
        return decoded
    if passes.null_loop:
        cond = method.model.encode_prompts(batch.source_prompts)
        null = method.model.encode_prompts([""])
        guidance = float(method.cfg.guidance)
        settings = NullTextSettings(inner_steps=0)
        optimise_null(
            method.model, method.schedule, inversion.trajectory, cond, null, guidance, settings
        )
    if passes.reconstruction:
        decoded.append(method.reconstruct(batch, inversion))
    if passes.offset_passes:
        decoded.append(_both_prompt_passes(method, batch, inversion, passes.offset_passes)[-1])
    return decoded


def edit_one(method: EditMethod, sample: Sample, resolution: int, seed: int) -> None:
    """One image the reference's way: load, invert, extra passes, edit, every decode."""
    batch = Batch.from_samples([sample], [sample.load_image(resolution, method.image_fit)], seed)
    inversion = method.invert(batch)
    decoded = reference_extras(method, batch, inversion, passes_of(str(method.cfg.name)))
    if isinstance(method, P2PEditMethod):
        decoded.append(method.edit_pairs(batch, inversion))  # it decodes both edit rows
    else:
        method.decode(method.edit(batch, inversion), batch)
    for latents in decoded:
        method.model.decode(latents)


def baseline_seconds_per_image(
    method: EditMethod, samples: Sequence[Sample], resolution: int, seed: int, warmup: bool
) -> tuple[float, float]:
    """Mean wall and process CPU seconds per image over ``samples`` (``warmup``: one untimed
    image first)."""
    device = method.model.device
    if warmup:
        edit_one(method, samples[0], resolution, seed)
    sync_device(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    for sample in samples:
        edit_one(method, sample, resolution, seed)
    sync_device(device)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return wall / len(samples), cpu / len(samples)
