"""The ``run`` command in a subprocess, as a user runs it, on the tiny model and sample data."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from piebench.data.pie_bench import SAMPLE_ROOT
from tests.metrics.tiny_networks import tiny_metrics_cfg

BASE = ["method=direct", "model=tiny", "progress=false", "method.steps=4", "evaluate=false"]


def piebench_run(*overrides, timeout=600):
    cmd = [sys.executable, "-m", "piebench", "run", *BASE, *overrides]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


def test_run_writes_tree_records_and_manifest(tmp_path):
    result = piebench_run(f"output_dir={tmp_path}", "data.limit=3", "batch_size=2")
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "direct"
    rows = records(run_dir)
    assert [r["status"] for r in rows] == ["ok"] * 3
    for row in rows:
        assert (run_dir / row["output"]).is_file()
        assert row["output"] == f"annotation_images/{row['image_path']}"
        assert row["inversion_s"] > 0 and row["edit_s"] > 0 and row["batch_size"] in (1, 2)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert (
        manifest["method"] == "direct"
        and manifest["seed"] == 1234
        and manifest["dtype"] == "float32"
    )
    assert manifest["summary"] == {"ok": 3, "failed": 0, "skipped": 0}
    assert manifest["config"]["method"]["editor"]["cross_replace_steps"] == 0.4
    assert {"torch", "diffusers", "transformers"} <= manifest["versions"].keys()
    assert manifest["numerics"].startswith("cpu threads=")
    assert (run_dir / "config.yaml").is_file()
    assert "3 edited, 0 already done, 0 failed" in result.stdout


# The CLI in a subprocess whose third batch hangs (a test-side patch, no hook in the product):
# killing it then always lands part-way, on any machine speed.
HANG_AT_THIRD_BATCH = """
import sys, time
from piebench import runner
edit, calls = runner.Runner._edit, []
def hang_at_third(self, *args):
    calls.append(1)
    if len(calls) == 3:
        time.sleep(3600)
    return edit(self, *args)
runner.Runner._edit = hang_at_third
from piebench.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_killed_run_resumes_without_redoing_finished_samples(tmp_path):
    run_dir = tmp_path / "direct"
    args = ["run", *BASE, f"output_dir={tmp_path}", "data.limit=5", "batch_size=1"]
    proc = subprocess.Popen(
        [sys.executable, "-c", HANG_AT_THIRD_BATCH, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (run_dir / "records.jsonl").is_file() and len(records(run_dir)) >= 2:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {r["id"] for r in records(run_dir) if r["status"] == "ok"}
    assert len(done_before) == 2, "the run should have been killed at its third sample"
    assert not list(run_dir.rglob("*.tmp"))
    result = piebench_run(f"output_dir={tmp_path}", "data.limit=5", "batch_size=1")
    assert result.returncode == 0, result.stderr
    rows = records(run_dir)
    for sample_id in done_before:
        assert sum(r["id"] == sample_id for r in rows) == 1, "finished sample was redone"
    assert {r["id"] for r in rows if r["status"] == "ok"} == {r["id"] for r in rows}
    assert len({r["id"] for r in rows}) == 5
    assert f"{len(done_before)} already done" in result.stdout


def test_bad_sample_is_recorded_and_the_run_goes_on(tmp_path):
    data = tmp_path / "bench"
    shutil.copytree(SAMPLE_ROOT, data)
    mapping = json.loads((data / "mapping_file.json").read_text())
    first, second, third, fourth = sorted(mapping)[:4]
    (data / "annotation_images" / mapping[first]["image_path"]).unlink()
    mapping[second]["mask"] = [0, 5, 7]  # malformed RLE: failed at load, never edited
    del mapping[third]["editing_prompt"]
    words = mapping[fourth]["blended_word"] = "sky night extra"  # used by its first two words
    (data / "mapping_file.json").write_text(json.dumps(mapping))
    result = piebench_run(f"output_dir={tmp_path / 'out'}", f"data.root={data}", "data.limit=4")
    assert result.returncode == 1
    by_id = {r["id"]: r for r in records(tmp_path / "out" / "direct")}
    assert by_id[first]["status"] == "failed" and "image file not found" in by_id[first]["error"]
    assert (
        by_id[third]["status"] == "failed"
        and "editing_prompt: missing field" in by_id[third]["error"]
    )
    assert (
        by_id[second]["status"] == "failed"
        and "mask: mask RLE has odd length" in (by_id[second]["error"])
    )
    assert by_id[fourth]["status"] == "ok" and words in by_id[fourth]["warnings"][0]
    assert len(by_id) == 4  # limit=4: the first four entries, valid or not
    assert "3 failed" in result.stdout


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["output_dir=/dev/null/piebench"], "not writable"),
        (["data.types=[12]"], "valid types: 0 (random)"),
        (["data.root=/nonexistent/PIE-Bench"], "data.root=/nonexistent/PIE-Bench does not exist"),
        (["method.steps=abc"], "config key method.steps"),
        (["data=pie_bench"], "config key data.root must be set"),
        (["method.interval=0"], "config key method.interval=0"),
    ],
)
def test_clear_errors_without_traceback(overrides, message):
    result = piebench_run(*overrides)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_run_that_cannot_load_its_model_leaves_no_folder(tmp_path):
    missing = tmp_path / "models" / "sd-v1-4"
    args = [
        "method=direct",
        "model=sd14",
        f"model.path={missing}",
        f"output_dir={tmp_path / 'out'}",
    ]
    cmd = [sys.executable, "-m", "piebench", "run", *args]
    result = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"model.path={missing}: no such folder" in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_method_lists_valid_names():
    result = subprocess.run(
        [sys.executable, "-m", "piebench", "run", "method=dirct", "model=tiny"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert (
        result.returncode == 2  # the run could not start
        and "Available options in 'method'" in result.stderr
        and "direct" in result.stderr
        and "Config search path" not in result.stderr
    )


def test_a_sweep_with_one_bad_value_stops_before_any_job(tmp_path):
    """Every swept value is composed once before Hydra launches anything: no job runs, no
    multirun.yaml is left, and the message names the job that cannot be composed."""
    cmd = [sys.executable, "-m", "piebench", "run", "-m", "method=ddim,dirct", "model=tiny"]
    result = subprocess.run(
        [*cmd, f"output_dir={tmp_path}"], check=False, capture_output=True, text=True
    )
    assert result.returncode == 2, result.stderr
    assert "the sweep's job `method=dirct" in result.stderr
    assert "Could not find 'method/dirct'" in result.stderr
    assert "Config search path" not in result.stderr and not list(tmp_path.iterdir())


def test_a_sweep_with_one_value_of_the_wrong_type_stops_before_any_job(tmp_path):
    """A value only the schema rejects (``method.steps=abc``) in the sweep's last job stops the
    sweep before the first job edits anything."""
    cmd = [sys.executable, "-m", "piebench", "run", "-m", "method.steps=2,abc", "model=tiny"]
    result = subprocess.run(
        [*cmd, "data.limit=1", f"output_dir={tmp_path}"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    assert "the sweep's job `method.steps=abc" in result.stderr
    assert "method.steps" in result.stderr and not list(tmp_path.iterdir())


def test_a_mistyped_key_names_the_closest_keys():
    result = piebench_run("metho.steps=3", "model=tiny")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "piebench run: error: unknown config key 'metho.steps' "
        "(did you mean 'method.steps' or 'method.steps_offset'?)"
    )


def test_run_scores_its_outputs_and_prints_the_row(tmp_path):
    metrics = tiny_metrics_cfg(tmp_path / "nets")
    overrides = [
        f"metrics.clip.path={metrics['clip']['path']}",
        f"metrics.dino.weights={metrics['dino']['weights']}",
        f"metrics.lpips.backbone_weights={metrics['lpips']['backbone_weights']}",
        "metrics.dino.resize=64",
        "metrics.device=cpu",
        *(f"metrics.dino.arch.{k}={v}" for k, v in metrics["dino"]["arch"].items()),
    ]
    result = piebench_run(f"output_dir={tmp_path}", "data.limit=2", "evaluate=true", *overrides)
    assert result.returncode == 0, result.stderr
    scores = pd.read_csv(tmp_path / "direct" / "scores_parity.csv")
    assert len(scores) == 2 and scores["psnr_unedit_part"].notna().all()
    assert scores["clip_similarity_target_image"].ge(0).all() and scores["total_s"].gt(0).all()
    header, _, row = [line for line in result.stdout.splitlines() if line.startswith("|")][:3]
    cells = [cell.strip() for cell in row.split("|")[1:5]]
    assert header.startswith("| method ") and cells == ["direct", "direct", "parity", "2"]
    assert "psnr_unedit_part" in header
    # a finished rerun edits nothing and reuses the saved scores (no model, no metric network)
    again = piebench_run(f"output_dir={tmp_path}", "data.limit=2", "evaluate=true", *overrides)
    assert again.returncode == 0, again.stderr
    printed = again.stdout + again.stderr
    assert "reusing" in printed and "loaded model" not in printed
    assert [line for line in again.stdout.splitlines() if line.startswith("|")][2] == row


def test_missing_metric_weights_skip_scoring_with_a_clear_message(tmp_path):
    result = piebench_run(
        f"output_dir={tmp_path}", "data.limit=1", "evaluate=true", "metrics.dino.weights=/nope.pth"
    )
    assert result.returncode == 0
    assert "scoring skipped" in result.stderr and "Traceback" not in result.stderr


def test_multirun_gives_every_swept_job_its_own_folder(tmp_path):
    cmd = [sys.executable, "-m", "piebench", "run", "-m", *BASE, "method.steps=2,3"]
    cmd += ["data.limit=1", f"output_dir={tmp_path}"]
    result = subprocess.run(
        cmd, check=False, capture_output=True, text=True, timeout=600, cwd=tmp_path.parent
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path.parent / "multirun.yaml").exists()
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == ["direct_method.steps=2", "direct_method.steps=3", "multirun.yaml"]
    for folder in folders[:2]:
        assert len(records(tmp_path / folder)) == 1


def test_prompts_the_replace_controller_cannot_pair_fail_alone_before_inverting(tmp_path):
    """A named input problem of one sample in a batch: recorded in one line, the batch's other
    samples edited, no traceback."""
    result = piebench_run(
        "method.editor.controller=replace", "data.resolution=64", "batch_size=10",
        f"output_dir={tmp_path}",
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
    rows = records(tmp_path / "direct")
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and len(failed) < len(rows)
    assert all("needs prompts with the same number of words" in r["error"] for r in failed)
    assert all(r["inversion_s"] is None for r in failed)
