import json

import pytest

from piebench.scoring.evaluate import model_name, run_resolution
from piebench.scoring.runs import open_run, unfinished_note


def test_sources_are_prepared_at_the_resolution_the_run_recorded():
    ours = {"data": {"resolution": 64}}
    assert run_resolution(ours, {"resolution": 512}) == 64
    assert run_resolution({}, {"resolution": 512}) == 512  # reference tree: no manifest
    assert run_resolution({}, {}) == 512


def test_model_name_comes_from_the_manifest_config():
    assert model_name(
        {"config": {"model": {"kind": "diffusers", "path": "CompVis/stable-diffusion-v1-4"}}}
    ) == ("CompVis/stable-diffusion-v1-4")
    assert model_name({"config": {"model": {"kind": "tiny", "path": None}}}) == "tiny"
    assert model_name({}) == "unknown"


def _run_folder(tmp_path, manifests: dict[str, dict]):
    (tmp_path / "annotation_images").mkdir(parents=True)
    for name, manifest in manifests.items():
        (tmp_path / name).write_text(json.dumps(manifest))
    return open_run(tmp_path)


def test_a_run_without_an_end_time_is_named_as_unfinished(tmp_path):
    done = {"run_name": "a", "finished": "2026-12-03T10:00:00+00:00"}
    assert unfinished_note(_run_folder(tmp_path / "done", {"manifest.json": done})) is None
    cut = _run_folder(tmp_path / "cut", {"manifest.json": {"run_name": "a"}})
    assert "did not finish" in unfinished_note(cut)
    shards = {
        "manifest.json": {"run_name": "a"},  # a sharded run's shared manifest never has one
        "manifest.shard-0-of-3.json": done,
        "manifest.shard-1-of-3.json": {"shard": 1},
    }
    assert "2 of its 3 shards did not finish" in unfinished_note(
        _run_folder(tmp_path / "s", shards)
    )
    assert unfinished_note(_run_folder(tmp_path / "reference", {})) is None


def test_a_missing_run_folder_is_named_as_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="run folder .* does not exist"):
        open_run(tmp_path / "nowhere")
