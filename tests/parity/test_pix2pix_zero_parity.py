"""pix2pix-zero against the reference implementation on the parity checkpoint, sample 000000000000
(both variants; README section 8 of the parity folder; ``caption=source_prompt``, as the fixtures).

Why steps and not the final images: on this tiny random checkpoint the 50 denoising steps of both
editing passes are chaotic. A difference of ~3e-6 in one UNet output (diffusers 0.14 vs ours)
grows ~10x every 5 steps and saturates after ~20, so two correct implementations end ~26-29 dB
apart. The reference code itself, re-run here (diffusers 0.14.0, transformers 4.26.1, torch
2.13.0+cpu and 2.15, one thread), lands 26.0 dB from its own ``__recon.png``, and 28.6 dB from
ours started at the same x_T. The inversion is not chaotic (the regularisation contracts), and the
Direct Inversion reconstruction is pinned to the inversion trajectory, so those are compared
end to end.

``data/pix2pix_zero_reference_trace.npz`` holds (1,4,64,64) float32 states the reference code
produced in that re-run (hooks on its scheduler ``step``; the BLIP caption replaced by the source
prompt): ``x0`` (VAE sample x 0.18215), ``x_T`` (end of its 50-step regularised inversion), the
pass-1 input/output at t=961 (``recon_*``) and the pass-2 input, SGD-updated unconditional half
and output at t=961 (``edit_*``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from methods.base import Batch
from piebench.methods import METHODS
from piebench.models.loading import load_model
from piebench.models.sd import images_to_tensor
from piebench.p2p.cross_attention_maps import record_cross_attention
from piebench.sampler.loop import guided_eps
from tests.conftest import compose_config
from tests.parity.conftest import agreement, reference_panel

# its tests share module-scoped work: keep them on one pytest-xdist worker (-n, --dist loadgroup)
pytestmark = pytest.mark.xdist_group("test_pix2pix_zero_parity")

SAMPLE = "000000000000"
IMAGE = "0_random_140/000000000000.jpg"
SOURCE = "a white star above green hills under a blue sky"
TARGET = "a white star above green hills under a starry night sky"
TRACE = Path(__file__).parent / "data" / "pix2pix_zero_reference_trace.npz"
STEP_T, STEP_INDEX = 961, 1


@pytest.fixture(scope="module")
def trace() -> dict[str, torch.Tensor]:
    with np.load(TRACE) as arrays:
        return {k: torch.from_numpy(arrays[k]) for k in arrays.files}


@pytest.fixture(scope="module")
def direct(parity_dir: Path):
    """The Direct Inversion variant on the parity checkpoint, its batch and its inversion."""
    cfg = compose_config(
        "method=pix2pix_zero",
        "method.caption=source_prompt",  # as the fixtures were made
        "method.inversion=direct",
        f"model.path={parity_dir / 'checkpoint' / 'tiny-sd-v1'}",
        "model.device=cpu",
    )
    method = METHODS.get("pix2pix_zero")(load_model(cfg.model), cfg.method)
    image = np.asarray(Image.open(parity_dir / "data" / "annotation_images" / IMAGE).convert("RGB"))
    batch = Batch(
        ids=[SAMPLE],
        images=images_to_tensor([image]),
        source_prompts=[SOURCE],
        target_prompts=[TARGET],
        blended_words=[None],
        generators=[torch.Generator().manual_seed(1234)],
    )
    return method, batch, method.invert(batch)


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def test_inversion_matches_the_reference(direct, trace) -> None:
    """VAE sample, 50 regularised inversion steps (20,000 shift draws) -> x_T."""
    _, _, inversion = direct
    assert max_abs(inversion.trajectory[0], trace["x0"]) <= 1e-5
    assert max_abs(inversion.trajectory[-1], trace["x_T"]) <= 1e-4  # measured 2.3e-5


def test_direct_reconstruction_matches_the_reference_panel(direct, parity_dir: Path) -> None:
    method, batch, inversion = direct
    ours = method.decode(method.reconstruct(batch, inversion), batch)[0]
    reference = reference_panel(parity_dir, "directinversion+pix2pix-zero", IMAGE, "recon")
    found = agreement(ours, reference)
    assert found.within(45.0, 0.5, None), found


def test_editing_steps_match_the_reference(direct, trace) -> None:
    """One step of pass 1 (CFG with the caption as negative prompt, clipped x0) and of pass 2
    (direction, SGD on the attention-map distance, CFG from the updated unconditional half) at
    t=961 from the reference's own inputs: both variants run these steps."""
    method, batch, inversion = direct
    model, schedule = method.model, method.edit_schedule
    assert schedule.timesteps[STEP_INDEX] == STEP_T
    caption = model.encode_prompts(inversion.extras["captions"])
    context = torch.cat([caption, caption + method.directions(batch)])
    with record_cross_attention(model.unet, model.explicit_attention) as maps:
        with torch.no_grad():
            eps = guided_eps(model, schedule, trace["recon_in_t961"], STEP_T, caption, caption, 7.5)
        recon = schedule.prev_step(eps, STEP_T, trace["recon_in_t961"])
        reference = {name: m.detach() for name, m in maps.items()}
        edited = method._guided_step(trace["edit_in_t961"], STEP_T, context, maps, reference)
    assert max_abs(recon, trace["recon_out_t961"]) <= 2e-5  # measured 3.5e-6
    assert max_abs(edited, trace["edit_out_t961"]) <= 2e-4  # measured 3.7e-5
