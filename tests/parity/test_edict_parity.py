"""EDICT's edited images against the reference implementation's own outputs (README sections 6, 8).

Both variants on sample 000000000000 at the reference's settings (512 px, 50 steps, strength 0.8,
guidance 3, float64 with fp16-rounded weights), with the parity checkpoint loaded through the
project's own loader: ``edict`` ("edict+direct_forward") and ``edict`` with ``p2p=true``
("edict+p2p"), each compared with the reference's lossless ``__edited.png`` panel (and the strip's
reconstruction panel with ``__recon.png``): PSNR >= 55 dB, mean |difference| <= 0.1 grey levels,
at most 0.5 % of values off by more than one level.

The two variants invert identically (their configs differ only in ``p2p``), so they share one
inversion: the reference runs it once per variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from piebench.data.pie_bench import Sample, load_benchmark
from piebench.methods import METHODS, Batch, EditMethod, Inversion
from piebench.methods.base import RECONSTRUCTION_PANEL
from piebench.models.loading import load_model
from piebench.models.sd import SDModel
from tests.conftest import compose_config
from tests.parity.conftest import agreement, parity_device, reference_panel

# its tests share module-scoped work: keep them on one pytest-xdist worker (-n, --dist loadgroup)
pytestmark = pytest.mark.xdist_group("test_edict_parity")

SAMPLE = "000000000000"
VARIANTS = {"edict+direct_forward": "false", "edict+p2p": "true"}


@dataclass
class Inverted:
    model: SDModel
    sample: Sample
    batch: Batch
    inversion: Inversion


def edict(parity: Path, model: SDModel | None, p2p: str) -> EditMethod:
    cfg = compose_config(
        "method=edict",
        f"model.path={parity / 'checkpoint' / 'tiny-sd-v1'}",
        "model.kind=diffusers",
        f"model.device={parity_device()}",
        f"method.p2p={p2p}",
    )
    return METHODS.get("edict")(model or load_model(cfg.model), cfg.method)


@pytest.fixture(scope="module")
def inverted(parity_dir: Path) -> Inverted:
    sample = load_benchmark(parity_dir / "data", None, [SAMPLE], None).samples[0]
    batch = Batch.from_samples([sample], [sample.load_image(512)], seed=1234)
    method = edict(parity_dir, None, "false")
    return Inverted(method.model, sample, batch, method.invert(batch))


@pytest.mark.parametrize("reference", list(VARIANTS))
def test_edited_image_and_strip_panel_match_the_reference(
    reference: str, parity_dir: Path, inverted: Inverted
) -> None:
    """The edit against ``__edited.png``, and the reconstruction panel the edit leaves for
    ``image_format=strip`` (z_0 decoded: the reference's strength-1 inversion and
    reconstruction return it exactly) against ``__recon.png`` (measured: bit-identical)."""
    method = edict(parity_dir, inverted.model, VARIANTS[reference])
    assert method.cfg.steps == 50 and method.timesteps[0] == 780 and method.timesteps[-1] == 0
    batch, inversion, image_path = inverted.batch, inverted.inversion, inverted.sample.image_path
    ours = method.decode(method.edit(batch, inversion), batch)[0]
    found = agreement(ours, reference_panel(parity_dir, reference, image_path))
    assert found.within(55.0, 0.1, 0.005), f"{reference}: {found}"
    panel = method.decode(inversion.extras[RECONSTRUCTION_PANEL], batch)[0]
    found = agreement(panel, reference_panel(parity_dir, reference, image_path, "recon"))
    assert found.within(55.0, 0.1, 0.005), f"{reference} reconstruction panel: {found}"
