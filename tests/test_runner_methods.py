"""The runner drives every registered method, for both tasks, end to end on the tiny model."""

import numpy as np
import pytest
from PIL import Image

from piebench import runner
from piebench.methods import METHODS
from piebench.runner import RunError, Runner
from piebench.scoring.runs import open_run
from piebench.scoring.tables import load_paper, match_paper
from tests.conftest import compose_config


@pytest.mark.parametrize(
    ("task", "dtype"), [("edit", "fp32"), ("reconstruct", "fp32"), ("edit", "fp16")]
)
@pytest.mark.parametrize("method", METHODS.names())
def test_every_method_and_task_runs_through_the_runner(method, task, dtype, tmp_path):
    """fp16 on the CPU takes the float32-accumulated layers and attention (``cpu_half``),
    gradients (NTI, pix2pix-zero) and P2P's explicit layers included."""
    if task == "reconstruct" and not METHODS.get(method).reconstructs:
        pytest.skip(f"{method} has no reconstruction task")
    extra = {  # NTI: fewer Adam steps; pix2pix-zero: no BLIP weights offline
        "nti": ["method.inner_steps=2"],
        "pix2pix_zero": ["method.caption=source_prompt"],
    }.get(method, [])
    cfg = compose_config(
        f"method={method}",
        f"task={task}",
        "model=tiny",
        f"model.dtype={dtype}",
        "method.steps=3",
        "data.limit=2",
        "batch_size=2",
        "progress=false",
        "image_format=png",
        f"output_dir={tmp_path}",
        *extra,
    )
    summary = Runner(cfg).run()
    assert (summary.ok, summary.failed) == (2, 0), summary.failures
    expected = method if task == "edit" else f"{method}_reconstruct"
    assert summary.run_dir.name == expected
    images = sorted((summary.run_dir / "annotation_images").rglob("*.png"))
    assert len(images) == 2
    for path in images:
        image = np.asarray(Image.open(path))
        assert image.shape == (64, 64, 3) and image.std() > 0


def test_reconstruct_with_a_method_that_has_none_fails_before_the_model_loads(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(runner, "load_model", lambda cfg: pytest.fail("the model was loaded"))
    cfg = compose_config(
        "method=bld", "task=reconstruct", "model=tiny", "data.limit=1", f"output_dir={tmp_path}"
    )
    with pytest.raises(RunError, match="method bld has no reconstruction"):
        Runner(cfg).run()
    assert list(tmp_path.iterdir()) == []  # no run folder left behind


def test_reconstruction_runs_are_labelled_apart_from_the_published_edits(tmp_path, tiny_model):
    """Tables name a reconstruction ``<method>_reconstruct``, so it is never set beside (and
    compared with) the paper's editing row of the same inversion."""
    cfg = compose_config(
        "method=nti",
        "task=reconstruct",
        "run_name=nti_rebuilt",
        "model=tiny",
        "method.steps=2",
        "method.inner_steps=1",
        "data.limit=1",
        "progress=false",
        f"output_dir={tmp_path}",
    )
    run = open_run(Runner(cfg).run(tiny_model).run_dir)
    assert run.method == "nti_reconstruct"
    paper = load_paper()
    assert match_paper(run.method, paper) is None and match_paper("nti", paper) is not None
