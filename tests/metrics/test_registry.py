"""Registry keys are the reference's column names; the config names only registered metrics."""

from __future__ import annotations

from pathlib import Path

import yaml

import piebench
from piebench.metrics.registry import DEFAULT_METRICS, METRICS

REFERENCE_COLUMNS = {
    f"{family}{suffix}"
    for family in ("psnr", "lpips", "mse", "ssim", "structure_distance")
    for suffix in ("", "_unedit_part", "_edit_part")
} | {
    "clip_similarity_source_image",
    "clip_similarity_target_image",
    "clip_similarity_target_image_edit_part",
}


def test_registry_keys_are_the_reference_columns():
    assert set(METRICS.names()) == REFERENCE_COLUMNS


def test_default_metrics_are_the_configured_ones():
    conf = Path(piebench.__file__).resolve().parent.parent / "conf" / "metrics" / "parity.yaml"
    assert tuple(yaml.safe_load(conf.read_text())["names"]) == DEFAULT_METRICS


def test_paper_units_and_directions():
    scales = {name: METRICS.get(name).paper_scale for name in DEFAULT_METRICS}
    assert scales["structure_distance"] == 1e3 and scales["lpips_unedit_part"] == 1e3
    assert scales["mse_unedit_part"] == 1e4 and scales["ssim_unedit_part"] == 1e2
    assert scales["psnr_unedit_part"] == 1 and scales["clip_similarity_target_image"] == 1
    assert METRICS.get("psnr_unedit_part").higher_is_better
    assert not METRICS.get("lpips_unedit_part").higher_is_better
