"""Resume never mixes two benchmarks or two output settings in one run folder."""

import json
import shutil

import pytest

from piebench.data.pie_bench import SAMPLE_ROOT
from piebench.runner import RunError, Runner
from tests.conftest import compose_config

BASE = ["method=ddim", "model=tiny", "method.steps=2", "data.limit=1", "progress=false"]


def run(out, *overrides):
    return Runner(compose_config(*BASE, f"output_dir={out}", *overrides)).run()


@pytest.fixture
def edited_sample(tmp_path):
    """The bundled sample with one prompt changed: same ids, another benchmark."""
    root = tmp_path / "other-bench"
    shutil.copytree(SAMPLE_ROOT, root)
    mapping = json.loads((root / "mapping_file.json").read_text())
    first = min(mapping)
    mapping[first]["editing_prompt"] += " at night"
    (root / "mapping_file.json").write_text(json.dumps(mapping))
    return root


def test_resume_into_a_run_of_another_benchmark_is_refused(tmp_path, edited_sample):
    out = tmp_path / "out"
    assert run(out).ok == 1
    with pytest.raises(RunError, match=r"data\.fingerprint.*output_dir=.*rerun=true"):
        run(out, f"data.root={edited_sample}")
    assert run(out, f"data.root={edited_sample}", "rerun=true").ok == 1


@pytest.mark.parametrize(
    "override, key",
    [("image_format=png", "image_format"), ("jpeg_quality=90", "jpeg_quality"), ("seed=1", "seed")],
)
def test_resume_with_other_output_settings_names_the_keys(tmp_path, override, key):
    out = tmp_path / "out"
    run(out)
    with pytest.raises(RunError, match=key):
        run(out, override)


def test_same_settings_resume_and_a_larger_selection_extends_the_run(tmp_path):
    out = tmp_path / "out"
    run(out)
    again = run(out)
    assert (again.ok, again.skipped) == (0, 1)
    more = run(out, "data.limit=2")
    assert (more.ok, more.skipped) == (1, 1)
