"""``python -m piebench.benchmark`` on the tiny model: the result it prints and saves."""

import json

import pytest

from piebench.benchmark import main


def test_benchmark_writes_its_documented_fields_with_positive_timings(tmp_path, capsys):
    """Three samples at batch 2 (a full and a partial batch after the warm-up) give per-image
    timings for our two passes and for the reference's four, and their ratio."""
    out = tmp_path / "nested" / "bench.json"
    overrides = ["model=tiny", "method.steps=2", "data.limit=3", "batch_size=2", f"out={out}"]
    assert main(overrides) == 0
    result = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == result
    assert set(result) == {
        "device",
        "model",
        "dtype",
        "resolution",
        "steps",
        "batch_size",
        "images",
        "ours_s_per_image",
        "reference_passes_s_per_image",
        "speedup",
    }
    assert isinstance(result["device"], str) and result["device"]  # "cpu (x86_64)", a GPU's name
    assert (result["model"], result["dtype"], result["resolution"]) == ("tiny", "float32", 64)
    assert (result["steps"], result["batch_size"], result["images"]) == (2, 2, 3)
    ours, reference = result["ours_s_per_image"], result["reference_passes_s_per_image"]
    assert 0 < ours < reference  # the reference's time includes ours plus two more passes
    assert result["speedup"] == pytest.approx(reference / ours)
