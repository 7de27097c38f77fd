"""evaluate_run on a tiny PIE-Bench: rows, statuses, NaNs, strips, and the saved scores."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from piebench.data.errors import BenchmarkError
from piebench.data.pie_bench import SAMPLE_ROOT
from piebench.manifest import dataset_fingerprint
from piebench.metrics.networks import MetricNetworks
from piebench.metrics.registry import DEFAULT_METRICS
from piebench.metrics.weights import MissingWeightsError
from piebench.scoring.evaluate import benchmark_root, evaluate_run, scores_path
from piebench.scoring.runs import open_run
from tests.scoring.conftest import SAMPLES


@pytest.fixture(scope="module")
def networks(tiny_cfg) -> MetricNetworks:
    return MetricNetworks(tiny_cfg)


def test_our_run_rows_statuses_timings_and_saved_scores(bench, our_run, tiny_cfg, networks):
    frame = evaluate_run(our_run, data_root=bench, metrics_cfg=tiny_cfg, networks=networks)
    assert list(frame["id"]) == list(SAMPLES)
    assert list(frame["status"]) == ["ok", "ok", "failed"]
    assert frame.loc[2, "error"] == "CUDA OOM" and frame.loc[2, DEFAULT_METRICS].isna().all()
    assert frame.loc[:1, DEFAULT_METRICS].notna().all().all()
    assert list(frame["total_s"]) == [3.0, 4.0, 5.0]
    assert set(frame["method"]) == {"direct"}
    saved = scores_path(our_run, "parity")
    assert saved.is_file()
    meta = json.loads(saved.with_suffix(".json").read_text())
    assert meta["metric_mode"] == "parity" and meta["n_scored"] == 2 and meta["model"] == "tiny-sd"
    assert meta["metric_profile"] == "parity"
    assert meta["metric_settings"] == {
        "mode": "parity",
        "ssim.crop_border": True,
        "ssim.clamp_variance": False,
        "dino.antialias": False,
    }
    assert "transformers 4.x" in meta["networks"]["clip_image_preprocess"]
    assert meta["networks"]["dino"] == tiny_cfg["dino"]["weights"]
    assert "inception" not in meta["networks"]  # FID off: no Inception named as used


def test_values_equal_the_metrics_on_the_decoded_files(bench, our_run, tiny_cfg, networks):
    """End to end: PSNR / MSE on the unedited part by hand from the JPEG files and the mask."""
    frame = evaluate_run(
        our_run, data_root=bench, metrics_cfg=tiny_cfg, networks=networks, save=False
    )
    image_path, _, rows = SAMPLES["000000000000"]
    source = (
        np.asarray(Image.open(bench / "annotation_images" / image_path)).astype(np.float64) / 255
    )
    edited = (
        np.asarray(Image.open(our_run / "annotation_images" / image_path)).astype(np.float64) / 255
    )
    keep = np.ones((512, 512, 1))
    keep[rows[0] : rows[1], 50:400] = 0
    keep[0, :] = keep[-1, :] = keep[:, 0] = keep[:, -1] = (
        0  # the reference forces the border into the mask
    )
    expected_mse = np.mean((source * keep - edited * keep) ** 2)
    assert frame.loc[0, "mse_unedit_part"] == pytest.approx(expected_mse, rel=1e-5)
    assert frame.loc[0, "psnr_unedit_part"] == pytest.approx(
        10 * np.log10(1 / expected_mse), rel=1e-5
    )


def test_empty_unedited_region_is_nan(bench, reference_run, tiny_cfg, networks):
    frame = evaluate_run(reference_run, data_root=bench, metrics_cfg=tiny_cfg, networks=networks)
    full_mask = frame["id"] == "922000000000"
    unedit = [c for c in DEFAULT_METRICS if c.endswith("_unedit_part")]
    assert frame.loc[full_mask, unedit].isna().all().all()
    assert frame.loc[full_mask, "clip_similarity_target_image_edit_part"].notna().all()


def test_strip_scores_like_its_rightmost_crop(bench, reference_run, tmp_path, tiny_cfg, networks):
    cropped = tmp_path / "cropped"
    for image_path, _, _ in SAMPLES.values():
        strip = Image.open(reference_run / "annotation_images" / image_path)
        assert strip.size == (2048, 512)
        out = cropped / "annotation_images" / image_path
        out.parent.mkdir(parents=True, exist_ok=True)
        strip.crop((1536, 0, 2048, 512)).save(out, format="PNG")
    strips = evaluate_run(
        reference_run, data_root=bench, metrics_cfg=tiny_cfg, networks=networks, save=False
    )
    crops = evaluate_run(
        cropped, data_root=bench, metrics_cfg=tiny_cfg, networks=networks, save=False
    )
    assert set(strips["method"]) == {"directinversion+p2p"}
    np.testing.assert_allclose(
        strips[list(DEFAULT_METRICS)], crops[list(DEFAULT_METRICS)], rtol=1e-6
    )


def test_wrong_size_is_an_error_row_not_a_crash(bench, our_run, tiny_cfg, networks):
    image_path = SAMPLES["111000000000"][0]
    Image.new("RGB", (256, 256)).save(our_run / "annotation_images" / image_path)
    frame = evaluate_run(
        our_run, data_root=bench, metrics_cfg=tiny_cfg, networks=networks, save=False
    )
    row = frame.set_index("id").loc["111000000000"]
    assert row["status"] == "error" and "256x256" in row["error"] and "512x512" in row["error"]
    assert np.isnan(row["psnr_unedit_part"])
    assert frame.set_index("id").loc["000000000000", "status"] == "ok"


def test_fid_set_scores_per_edit_type(bench, our_run, tiny_cfg, networks):
    class MeanColour(torch.nn.Module):
        def forward(self, images):
            return torch.cat([images.mean((2, 3)), images.std((2, 3))], dim=1)

    networks.__dict__["inception"] = MeanColour()  # inject a feature extractor for this test
    try:
        cfg = {**tiny_cfg, "fid": {"enabled": True, "kid_subsets": 5}}
        evaluate_run(our_run, data_root=bench, metrics_cfg=cfg, networks=networks)
    finally:
        del networks.__dict__["inception"]
    sets = pd.read_csv(our_run / "set_scores.csv")
    assert list(sets["group"]) == ["all", "edit_type=0", "edit_type=1"]
    assert list(sets["n"]) == [2, 1, 1]
    assert sets.loc[0, "fid"] > 0 and sets.loc[1:, "fid"].isna().all()


def test_every_missing_network_is_named_before_scoring(bench, our_run, tiny_cfg, tmp_path):
    cfg = {
        **tiny_cfg,
        "dino": {**tiny_cfg["dino"], "weights": str(tmp_path / "no-dino.pth")},
        "lpips": {"backbone_weights": str(tmp_path / "no-squeezenet.pth")},
    }
    with pytest.raises(MissingWeightsError) as err:
        evaluate_run(our_run, data_root=bench, metrics_cfg=cfg)
    message = str(err.value)
    assert "metrics.dino.weights=<path>" in message
    assert "metrics.lpips.backbone_weights=<path>" in message
    assert "metrics.clip.path" not in message  # the configured tiny CLIP loads
    assert not scores_path(our_run, "parity").exists()  # nothing half-scored is written


def test_pixel_metrics_score_without_any_network(bench, our_run, tmp_path):
    nowhere = str(tmp_path / "none.pth")
    cfg = {
        "names": ["psnr_unedit_part", "mse_unedit_part", "ssim_unedit_part"],
        "clip": {"path": nowhere},
        "dino": {"weights": nowhere},
        "lpips": {"backbone_weights": nowhere},
        "fid": {"enabled": "auto", "inception_weights": nowhere},
        "device": "cpu",
    }
    frame = evaluate_run(our_run, data_root=bench, metrics_cfg=cfg)
    assert frame.loc[frame["status"] == "ok", cfg["names"]].notna().all().all()
    meta = json.loads(scores_path(our_run, "parity").with_suffix(".json").read_text())
    assert meta["networks"] == {"device": "cpu"}  # no network was loaded, none is named


def _record_benchmark(run, root, fingerprint) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["data"] = {"root": str(root), "fingerprint": fingerprint}
    (run / "manifest.json").write_text(json.dumps(manifest))


def test_a_run_is_scored_against_the_benchmark_it_was_made_from(bench, our_run, tmp_path):
    """PIE-Bench ids repeat across benchmarks (the bundled sample reuses 000000000000): without
    data.root a run is scored against its manifest's benchmark, never the bundled sample."""
    assert benchmark_root(open_run(our_run), None) == SAMPLE_ROOT  # nothing recorded
    _record_benchmark(our_run, bench, dataset_fingerprint(bench))
    assert benchmark_root(open_run(our_run), None) == bench
    cfg = {"names": ["psnr_unedit_part"], "device": "cpu", "fid": {"enabled": False}}
    frame = evaluate_run(our_run, metrics_cfg=cfg, save=False)
    assert list(frame["status"]) == ["ok", "ok", "failed"]
    assert (frame["psnr_unedit_part"].iloc[:2] > 20).all()  # edits of these very sources

    elsewhere = tmp_path / "moved"
    _record_benchmark(our_run, elsewhere, dataset_fingerprint(bench))
    with pytest.raises(BenchmarkError, match="pass data.root="):
        benchmark_root(open_run(our_run), None)
    _record_benchmark(our_run, elsewhere, dataset_fingerprint(SAMPLE_ROOT))
    assert benchmark_root(open_run(our_run), None) == SAMPLE_ROOT  # another install's sample
    assert benchmark_root(open_run(our_run), str(bench)) == bench  # data.root always wins


def test_a_reference_tree_needs_data_root(bench, reference_run):
    """A reference output folder records no benchmark: scored against the bundled sample by
    default it would pair its edits with other sources (or none), so it stops, naming the key."""
    with pytest.raises(BenchmarkError, match="reference's output tree.*pass data.root="):
        benchmark_root(open_run(reference_run), None)
    assert benchmark_root(open_run(reference_run), str(bench)) == bench


def test_a_reference_trees_unreadable_entry_is_a_failed_row_and_odd_runs_are_scored(
    bench, reference_run, tmp_path, tiny_cfg, networks, caplog
):
    """Scoring a reference output folder keeps every selected entry: one the harness cannot read
    is a failed row naming the problem (it used to vanish from n and failed), and a mask with a
    run past the grid is scored as the reference scores it (its decoder sets nothing there)."""
    data = tmp_path / "data"
    shutil.copytree(bench, data)
    mapping = json.loads((data / "mapping_file.json").read_text())
    mapping["111000000000"]["mask"] = [*mapping["111000000000"]["mask"], 512 * 512 + 7, 3]
    mapping["922000000000"]["original_prompt"] = ""
    (data / "mapping_file.json").write_text(json.dumps(mapping))
    with caplog.at_level("WARNING"):
        frame = evaluate_run(
            reference_run, data_root=data, metrics_cfg=tiny_cfg, networks=networks, save=False
        ).set_index("id")
    assert list(frame.index) == ["000000000000", "111000000000", "922000000000"]
    assert frame.loc["111000000000", "status"] == "ok"
    plain = evaluate_run(
        reference_run, data_root=bench, metrics_cfg=tiny_cfg, networks=networks, save=False
    ).set_index("id")
    assert (
        frame.loc["111000000000", "mse_unedit_part"] == plain.loc["111000000000", "mse_unedit_part"]
    )
    broken = frame.loc["922000000000"]
    assert broken["status"] == "failed" and broken["edit_type"] == 9
    assert "original_prompt: expected a non-empty string" in broken["error"]
    assert any(
        "1 selected benchmark entries cannot be read" in r.getMessage() for r in caplog.records
    )
