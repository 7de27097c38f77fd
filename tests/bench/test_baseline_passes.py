"""The baseline runs the reference's passes: UNet rows per step counted on the tiny model."""

import pytest

from piebench.bench.baseline import edit_one
from piebench.data.pie_bench import SAMPLE_ROOT, load_benchmark
from piebench.methods import METHODS, Batch
from tests.conftest import method_config

# UNet rows per denoising step of one image in cure-lab/PnPInversion run_editing_p2p.py:
# inversion 1 + edit 4 (2 prompts x CFG), plus ddim: NullInversion's loop with 0 inner steps 2
# and the reconstruction 2; npi: the reconstruction 2; direct: offset pass 4 + reconstruction 4.
REFERENCE_ROWS = {"ddim": 1 + 2 + 2 + 4, "npi": 1 + 2 + 4, "direct": 1 + 4 + 4 + 4}
OUR_ROWS = 1 + 4


def count_rows(model, monkeypatch) -> list[int]:
    rows: list[int] = []
    predict = model.predict

    def counting(latents, t, context):
        rows.append(latents.shape[0])
        return predict(latents, t, context)

    monkeypatch.setattr(model, "predict", counting)
    return rows


@pytest.mark.parametrize("name", sorted(REFERENCE_ROWS))
def test_baseline_runs_the_reference_rows_and_ours_fewer(name, tiny_model, monkeypatch):
    steps = 3
    method = METHODS.get(name)(tiny_model, method_config(name, steps=steps))
    sample = load_benchmark(SAMPLE_ROOT, limit=1).samples[0]
    rows = count_rows(method.model, monkeypatch)
    edit_one(method, sample, 64, 1234)
    assert sum(rows) == REFERENCE_ROWS[name] * steps
    batch = Batch.from_samples([sample], [sample.load_image(64)], 1234)
    rows.clear()
    method.edit(batch, method.invert(batch))
    assert sum(rows) == OUR_ROWS * steps
