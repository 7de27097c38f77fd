"""Our scoring reproduces the reference evaluator's per-image values, era by era.

The reference ``evaluation/evaluate.py`` (cure-lab/PnPInversion) was run on its own stored
outputs with random stand-in networks (``shared/parity``, README sections 5 and 6). Here the
harness scores the same files through ``evaluate_run``, as a user would, with the same networks:

- the 512x2048 JPEG strips of ``reference_outputs/<method>/`` (a reference-tree folder: the
  edit is the rightmost 512 columns) and the lossless ``__edited.png`` panels (copied into a run
  folder whose ``records.jsonl`` names them as outputs, as our PNG runs do);
- under ``metrics=parity`` (the published tables' libraries: torchmetrics 1.2.1, DINO resize
  without antialias) against ``metrics_*.csv`` (structure distance: ``..._resize_no_antialias``;
  none exists for the lossless panels), and under ``metrics=parity_current`` (torchmetrics 1.9,
  antialiased resize) against ``metrics_*__tm190.csv``.

Bounds (README section 6): psnr, mse, lpips, ssim relative 1e-5; structure distance relative
1e-4; CLIP absolute 1e-3. The last tests show the bounds bite: each SSIM setting of the other
era, the other era's DINO resize and the torchvision CLIP image processor (transformers 5's
default) each break them.

Cost: DINO ViT-B/8 at 224 px on the CPU (~3 s an image, one thread) dominates. By default it
runs for the published tables' era on the strips (the only outputs with a 2023 structure
distance); structure distance under ``parity_current`` (strips and panels) is marked ``slow``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoImageProcessor

from piebench.data.pie_bench import load_benchmark
from piebench.metrics.clip_score import ClipScorer
from piebench.metrics.networks import MetricNetworks
from piebench.metrics.profiles import BUILTIN_PROFILES, MetricProfile
from piebench.metrics.registry import DEFAULT_METRICS
from piebench.scoring.evaluate import NO_EDITED_IMAGE, evaluate_run
from piebench.scoring.reference_csv import reference_csv
from tests.parity.conftest import parity_device

# its tests share module-scoped work: keep them on one pytest-xdist worker (-n, --dist loadgroup)
pytestmark = pytest.mark.xdist_group("test_metric_parity")

# README section 6: (kind, bound) per metric family.
BOUNDS = {
    "psnr": ("relative", 1e-5),
    "mse": ("relative", 1e-5),
    "lpips": ("relative", 1e-5),
    "ssim": ("relative", 1e-5),
    "structure_distance": ("relative", 1e-4),
    "clip": ("absolute", 1e-3),
}
NO_DINO = [name for name in DEFAULT_METRICS if name != "structure_distance"]
CLIP = [name for name in DEFAULT_METRICS if name.startswith("clip")]
# (outputs, profile) -> the reference's CSV of that library era, per metric
REFERENCE_CSV = {
    ("strips", "parity"): "metrics_reference_jpg_outputs.csv",
    ("strips", "parity_current"): "metrics_reference_jpg_outputs__tm190.csv",
    ("panels", "parity"): "metrics_lossless_edited_png.csv",
    ("panels", "parity_current"): "metrics_lossless_edited_png__tm190.csv",
}
PARITY_ERA_STRUCTURE = "metrics_reference_jpg_outputs__structure_distance_resize_no_antialias.csv"


def bound_of(metric: str) -> tuple[str, float]:
    return next(bound for family, bound in BOUNDS.items() if metric.startswith(family))


def deviation(metric: str, ours: float, reference: float) -> float:
    """In the metric's bound units: relative or absolute difference."""
    kind, _ = bound_of(metric)
    difference = abs(ours - reference)
    return difference / abs(reference) if kind == "relative" else difference


def csv_values(file: Path) -> dict[tuple[str, str, str], float]:
    """(method, id, metric) -> value of one reference CSV, empty cells (not run) left out."""
    table = pd.read_csv(file, dtype={"file_id": str})
    values = {}
    for column in table.columns.drop("file_id"):
        method, metric = column.split("|")
        for sample_id, value in zip(table["file_id"], table[column]):
            if not np.isnan(value):
                values[(method, sample_id, metric)] = float(value)
    return values


def reference_values(parity: Path, outputs: str, profile: str) -> dict[tuple[str, str, str], float]:
    """The reference's values for one kind of outputs, in the library era of ``profile``."""
    values = csv_values(parity / "metrics" / REFERENCE_CSV[(outputs, profile)])
    if profile == "parity":
        # These files' structure distance is torchvision 0.28's (antialiased resize); the 2023
        # one exists for the strips only.
        values = {cell: v for cell, v in values.items() if cell[2] != "structure_distance"}
        if outputs == "strips":
            values.update(csv_values(parity / "metrics" / PARITY_ERA_STRUCTURE))
    return values


def dino_vitb8_random(parity: Path, file: Path) -> Path:
    """DINO ViT-B/8's state dict from README section 5's recipe, checked against its checksums."""
    spec = json.loads((parity / "metric_models" / "dino_vitb8_random_checksums.json").read_text())
    state = {}
    for entry in spec["tensors"]:
        name, shape = entry["name"], entry["shape"]
        if "norm" in name and name.endswith("weight"):
            tensor = torch.ones(shape)
        elif "norm" in name and name.endswith("bias"):
            tensor = torch.zeros(shape)
        else:
            generator = torch.Generator().manual_seed(20240 + entry["index"])
            tensor = torch.randn(shape, generator=generator) * 0.02
        assert tensor.flatten()[:4].tolist() == entry["first4"], name
        assert float(tensor.double().sum()) == pytest.approx(entry["sum"], rel=1e-6, abs=1e-9)
        assert float(tensor.double().abs().sum()) == pytest.approx(entry["abs_sum"], rel=1e-6)
        state[name] = tensor
    assert len(state) == spec["n_tensors"]
    torch.save(state, file)
    return file


def squeezenet_backbone(parity: Path, file: Path) -> Path:
    """The LPIPS net's ``net.slices.<k>.<i>.*`` tensors under torchvision's ``features.<i>.*``
    names (the linear heads are the real LPIPS ones, which the ``lpips`` package ships)."""
    state = torch.load(
        parity / "metric_models" / "lpips_squeeze_random_backbone.pt", weights_only=True
    )
    prefix = "net.slices."
    backbone = {
        "features." + name[len(prefix) :].split(".", 1)[1]: tensor
        for name, tensor in state.items()
        if name.startswith(prefix)
    }
    torch.save(backbone, file)
    return file


def lossless_runs(parity: Path, root: Path) -> Path:
    """One run folder per method holding its ``__edited.png`` panels as outputs (records)."""
    bench = {s.id: s for s in load_benchmark(parity / "data").samples}
    for method_dir in sorted((parity / "reference_outputs").iterdir()):
        records = []
        for sample_id, sample in bench.items():
            stem = Path(sample.image_path).with_suffix("")
            panel = method_dir / "annotation_images" / f"{stem}__edited.png"
            if not panel.is_file():
                continue
            output = Path("annotation_images") / stem.with_suffix(".png")
            (root / method_dir.name / output).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(panel, root / method_dir.name / output)
            records.append(
                {
                    "id": sample_id,
                    "image_path": sample.image_path,
                    "edit_type": sample.edit_type,
                    "method": method_dir.name,
                    "status": "ok",
                    "output": str(output),
                }
            )
        lines = "\n".join(json.dumps(r) for r in records) + "\n"
        (root / method_dir.name / "records.jsonl").write_text(lines)
    return root


def csv_methods(parity: Path, outputs: str) -> list[str]:
    """The methods the reference evaluated (the CSV columns' ``<method>|<metric>``)."""
    columns = pd.read_csv(parity / "metrics" / REFERENCE_CSV[(outputs, "parity")], nrows=0)
    return sorted({column.split("|")[0] for column in columns.columns.drop("file_id")})


@dataclass(frozen=True)
class Harness:
    """What the scoring needs: data, output folders, network config, shared networks."""

    parity: Path
    folders: dict[str, Path]  # outputs kind -> folder of one run per method
    networks_cfg: dict
    networks: MetricNetworks
    cache: dict[tuple, dict] = field(default_factory=dict)

    def metrics_cfg(self, profile: MetricProfile, names: list[str]) -> dict:
        """The ``metrics`` config group of ``profile`` with the stand-in networks."""
        return {
            **self.networks_cfg,
            "profile": profile.name,
            "mode": profile.mode,
            "names": names,
            "ssim": {
                "crop_border": profile.ssim_crop_border,
                "clamp_variance": profile.ssim_clamp_variance,
            },
            "dino": {**self.networks_cfg["dino"], "antialias": profile.dino_antialias},
        }

    def score(
        self,
        outputs: str,
        profile: MetricProfile,
        names: list[str],
        networks: MetricNetworks | None = None,
    ) -> dict[tuple[str, str, str], float]:
        """(method, id, metric) -> our value, for every method the reference evaluated."""
        ours = {}
        for method in csv_methods(self.parity, outputs):
            frame = evaluate_run(
                self.folders[outputs] / method,
                data_root=self.parity / "data",
                metrics_cfg=self.metrics_cfg(profile, names),
                networks=networks or self.networks,
                save=False,
            )
            # the reference edited some samples with some methods only: those are failed rows
            missing = frame["status"] != "ok"
            assert (frame.loc[missing, "error"] == NO_EDITED_IMAGE).all(), frame[
                ["id", "status", "error"]
            ]
            for row in frame[~missing].itertuples(index=False):
                for name in names:
                    ours[(method, row.id, name)] = float(getattr(row, name))
        return ours

    def scored(self, outputs: str, profile: str, names: list[str]) -> dict:
        """``score`` with a built-in profile, computed once per (outputs, profile, names)."""
        key = (outputs, profile, tuple(names))
        if key not in self.cache:
            self.cache[key] = self.score(outputs, BUILTIN_PROFILES[profile], names)
        return self.cache[key]


@pytest.fixture(scope="module")
def harness(parity_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Harness:
    nets = tmp_path_factory.mktemp("metric-networks")
    cfg = {
        "batch_size": 16,  # every sample of a method in one batch
        "device": parity_device(),
        "clip": {"path": str(parity_dir / "metric_models" / "tiny_clip")},
        "dino": {"weights": str(dino_vitb8_random(parity_dir, nets / "dino_vitb8_random.pth"))},
        "lpips": {"backbone_weights": str(squeezenet_backbone(parity_dir, nets / "sq.pth"))},
    }
    folders = {
        "strips": parity_dir / "reference_outputs",
        "panels": lossless_runs(parity_dir, tmp_path_factory.mktemp("lossless")),
    }
    return Harness(parity_dir, folders, cfg, MetricNetworks(cfg))


def compare(ours: dict, reference: dict, names: list[str]) -> tuple[dict[str, float], list[str]]:
    """Max deviation per metric over every reference cell of ``names`` (all must be scored),
    and the cells out of bounds."""
    worst: dict[str, float] = {}
    out_of_bounds = []
    cells = [cell for cell in reference if cell[2] in names]
    assert cells, "no reference values for these metrics"
    for cell in cells:
        assert cell in ours, f"{cell} has a reference value but was not scored"
        metric = cell[2]
        off = deviation(metric, ours[cell], reference[cell])
        worst[metric] = max(worst.get(metric, 0.0), off)
        if not off <= bound_of(metric)[1]:
            out_of_bounds.append(f"{cell}: ours {ours[cell]!r}, reference {reference[cell]!r}")
    return worst, out_of_bounds


def names_by_default(outputs: str, profile: str) -> list[str]:
    """Metrics checked in the default run: structure distance (DINO ViT-B/8 on the CPU, ~3 s an
    image) only for the published tables' era, on the strips (the only outputs with its value)."""
    return list(DEFAULT_METRICS) if (outputs, profile) == ("strips", "parity") else NO_DINO


@pytest.mark.parametrize("profile", ["parity", "parity_current"])
@pytest.mark.parametrize("outputs", ["strips", "panels"])
def test_every_reference_value_is_reproduced(harness, outputs, profile):
    names = names_by_default(outputs, profile)
    reference = reference_values(harness.parity, outputs, profile)
    worst, out_of_bounds = compare(harness.scored(outputs, profile, names), reference, names)
    print(f"{outputs}/{profile} max deviation:", {k: f"{v:.1e}" for k, v in worst.items()})
    assert set(worst) == set(names)
    assert not out_of_bounds, "\n".join(out_of_bounds)


@pytest.mark.slow
@pytest.mark.parametrize("outputs", ["strips", "panels"])
def test_structure_distance_under_current_libraries(harness, outputs):
    names = ["structure_distance"]
    reference = reference_values(harness.parity, outputs, "parity_current")
    worst, out_of_bounds = compare(
        harness.scored(outputs, "parity_current", names), reference, names
    )
    print(f"{outputs}/parity_current max deviation:", {k: f"{v:.1e}" for k, v in worst.items()})
    assert not out_of_bounds, "\n".join(out_of_bounds)


@pytest.mark.parametrize("flipped", ["ssim_crop_border", "ssim_clamp_variance"])
def test_each_ssim_setting_of_the_other_era_breaks_the_2023_bound(harness, flipped):
    """One SSIM behaviour of current torchmetrics in the 2023 profile: out of bounds (the
    variance clamp only moves SSIM by ~1e-5, on the JPEG edits of blended latent diffusion)."""
    parity = BUILTIN_PROFILES["parity"]
    profile = replace(parity, name="one-flipped", **{flipped: not getattr(parity, flipped)})
    names = ["ssim_unedit_part"]
    worst, out_of_bounds = compare(
        harness.score("strips", profile, names),
        reference_values(harness.parity, "strips", "parity"),
        names,
    )
    print(f"{flipped} flipped, max deviation: {worst['ssim_unedit_part']:.1e}")
    assert out_of_bounds


@pytest.mark.parametrize(
    ("profile", "other"), [("parity", "parity_current"), ("parity_current", "parity")]
)
def test_the_other_eras_values_are_out_of_bounds(harness, profile, other):
    """Each era's scores against the other era's CSV: SSIM and structure distance (the DINO
    resize; scored by default for ``parity`` only) far out of bounds, the rest within."""
    names = names_by_default("strips", profile)
    ours = harness.scored("strips", profile, names)
    worst, _ = compare(ours, reference_values(harness.parity, "strips", other), names)
    assert worst["ssim_unedit_part"] > 100 * bound_of("ssim")[1]
    if "structure_distance" in names:
        assert worst["structure_distance"] > 100 * bound_of("structure_distance")[1]
    for metric in ("psnr_unedit_part", "mse_unedit_part", "lpips_unedit_part", *CLIP):
        assert worst[metric] <= bound_of(metric)[1]


def test_transformers_default_clip_processor_breaks_the_bound(harness):
    """The torchvision processor (transformers 5's default) in place of ours."""
    folder = harness.parity / "metric_models" / "tiny_clip"
    default = AutoImageProcessor.from_pretrained(folder, use_fast=True)
    ours = harness.networks.clip

    def default_preprocess(images: torch.Tensor) -> torch.Tensor:
        return default(images=list(images), return_tensors="pt")["pixel_values"]

    networks = MetricNetworks(harness.networks_cfg)
    networks.__dict__["clip"] = ClipScorer(ours.model, ours.tokenizer, default_preprocess)
    values = harness.score("strips", BUILTIN_PROFILES["parity"], CLIP, networks=networks)
    worst, _ = compare(values, reference_values(harness.parity, "strips", "parity"), CLIP)
    print("default CLIP processor, max deviation:", {k: f"{v:.1e}" for k, v in worst.items()})
    assert max(worst.values()) > 5 * bound_of("clip")[1]


def test_the_reference_layout_export_reads_as_the_reference_csv(harness, tmp_path):
    """``--format reference`` of the reference's own strips: the columns the reference's
    evaluator wrote (``<method>|<metric>``, its metric order), read by the same reader as its
    CSV, give its values within the bounds; NTI's unedited sample is empty cells, as there."""
    methods = csv_methods(harness.parity, "strips")
    profile = BUILTIN_PROFILES["parity_current"]
    frames = [
        evaluate_run(
            harness.folders["strips"] / method,
            data_root=harness.parity / "data",
            metrics_cfg=harness.metrics_cfg(profile, NO_DINO),
            networks=harness.networks,
            save=False,
        )
        for method in methods
    ]
    exported = tmp_path / "evaluation_result.csv"
    exported.write_text(reference_csv(frames, methods) + "\n")
    theirs = harness.parity / "metrics" / REFERENCE_CSV[("strips", "parity_current")]
    header = pd.read_csv(theirs, nrows=0).columns
    assert list(pd.read_csv(exported, nrows=0).columns) == [
        "file_id",
        *(
            c
            for m in methods
            for c in header
            if c.startswith(f"{m}|") and c.split("|")[1] in NO_DINO
        ),
    ]
    reference = {k: v for k, v in csv_values(theirs).items() if k[2] in NO_DINO}
    ours = csv_values(exported)
    assert set(ours) == set(reference)  # the same cells filled, the same left empty
    _, out_of_bounds = compare(ours, reference, NO_DINO)
    assert not out_of_bounds, "\n".join(out_of_bounds)
