from piebench.scoring.evaluate import model_name, run_resolution


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
