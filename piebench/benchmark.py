"""Speed benchmark: Direct Inversion + P2P with the necessary work only (two passes) against
the reference's pass structure (four passes), on the same components and samples.

The reference per image: DDIM inversion (batch 1), an offset pass and a display reconstruction
(each 2 latents x CFG = 4 UNet rows, 50 steps), then the edit (4 rows). Ours: the inversion and
the edit, the source correction applied live. Both use our sampler, so the measured ratio is the
cost of the extra passes alone. Prints seconds per image and the ratio; ``out=FILE`` saves JSON.

    python -m piebench.benchmark model=tiny data.limit=4
    python -m piebench.benchmark data.root=/data/PIE-Bench data.limit=16 batch_size=4 out=results/benchmarks/h100.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from piebench.cli_run import CONF_DIR
from piebench.data.pie_bench import SAMPLE_ROOT, load_benchmark
from piebench.manifest import device_name
from piebench.methods import METHODS, Batch
from piebench.methods.base import Inversion
from piebench.methods.p2p_edit import interleave
from piebench.models.loading import load_model
from piebench.runner import chunks, sync_device
from piebench.sampler.hooks import StepHook
from piebench.sampler.loop import denoise


class AllRowsOnTrajectory(StepHook):
    """The reference's offset pass: every row is reset onto the inversion trajectory."""

    def __init__(self, trajectory: torch.Tensor) -> None:
        self.trajectory = trajectory

    def step_end(self, i: int, t: int, latents: torch.Tensor) -> torch.Tensor:
        return self.trajectory[len(self.trajectory) - i - 2].repeat_interleave(2, dim=0)


def extra_reference_passes(method, batch: Batch, inversion: Inversion) -> None:
    """The two 4-row passes the reference adds per image (offsets, display reconstruction)."""
    model = method.model
    cond = model.encode_prompts(interleave(batch.source_prompts, batch.target_prompts))
    uncond = model.encode_prompts([""]).expand(2 * len(batch), -1, -1)
    x_t = inversion.trajectory[-1].repeat_interleave(2, dim=0)
    for _ in range(2):
        denoise(
            model,
            method.schedule,
            x_t,
            cond,
            uncond,
            float(method.cfg.guidance),
            [AllRowsOnTrajectory(inversion.trajectory)],
        )


def main(argv: list[str]) -> int:
    overrides = [a for a in argv if not a.startswith("out=")]
    out = next((a.split("=", 1)[1] for a in argv if a.startswith("out=")), None)
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose(config_name="config", overrides=["method=direct", *overrides])
    model = load_model(cfg.model)
    method = METHODS.get("direct")(model, cfg.method)
    data = cfg.data
    samples = load_benchmark(data.root or SAMPLE_ROOT, data.types, data.ids, data.limit).samples
    size = max(1, int(cfg.batch_size))
    batches = list(chunks(samples, size))
    timings = {"ours_s": 0.0, "reference_s": 0.0}
    for rep, chunk in enumerate([batches[0], *batches]):  # first batch again = warm-up, not timed
        images = [s.load_image(int(data.resolution)) for s in chunk]
        batch = Batch.from_samples(list(chunk), images, int(cfg.seed))
        sync_device(model.device)
        start = time.perf_counter()
        inversion = method.invert(batch)
        model.decode(method.edit(batch, inversion))
        sync_device(model.device)
        ours = time.perf_counter() - start
        extra_reference_passes(method, batch, inversion)
        sync_device(model.device)
        if rep:
            timings["ours_s"] += ours
            timings["reference_s"] += time.perf_counter() - start
    n = len(samples)
    result = {
        "device": device_name(model.device),
        "model": model.name,
        "dtype": str(model.dtype).replace("torch.", ""),
        "resolution": int(data.resolution),
        "steps": int(cfg.method.steps),
        "batch_size": size,
        "images": n,
        "ours_s_per_image": timings["ours_s"] / n,
        "reference_passes_s_per_image": timings["reference_s"] / n,
        "speedup": timings["reference_s"] / timings["ours_s"],
    }
    print(json.dumps(result, indent=2))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
