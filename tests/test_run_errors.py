"""Errors that do not hide bugs: a named input problem is one line; anything unexpected keeps its
traceback in the record and on the console once; ``fail_fast=true`` stops at the first."""

import json
import logging
import os
import shutil
import stat
import sys

import pytest
import torch

from piebench import cli_run, runner
from piebench.data.pie_bench import SAMPLE_ROOT
from piebench.methods.ddim import DDIMInversion
from piebench.metrics.weights import MissingWeightsError
from piebench.run_lock import lock_file_name, try_lock
from piebench.runner import RunError, Runner
from piebench.scoring.evaluate import evaluate_run
from piebench.scoring.tables import aggregate, stack_runs
from tests.conftest import compose_config

BASE = ["method=ddim", "model=tiny", "method.steps=2", "data.limit=3", "progress=false"]


def broken_edit(self, batch, inversion):
    raise ZeroDivisionError("a bug in the method")


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


def test_unexpected_errors_keep_their_traceback(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(DDIMInversion, "edit", broken_edit)
    with caplog.at_level(logging.WARNING):
        summary = Runner(compose_config(*BASE, f"output_dir={tmp_path}", "batch_size=3")).run()
    assert (summary.ok, summary.failed) == (0, 3)
    failed = [r for r in rows(summary.run_dir) if r["status"] == "failed"]
    assert len(failed) == 3
    for row in failed:
        assert row["error"] == "unexpected ZeroDivisionError: a bug in the method"
        assert "Traceback" in row["traceback"] and "broken_edit" in row["traceback"]
    shown = [r for r in caplog.records if "Traceback" in r.getMessage()]
    assert len(shown) == 1  # printed once, then one line per sample


def test_fail_fast_stops_at_the_first_unexpected_error(tmp_path, monkeypatch):
    monkeypatch.setattr(DDIMInversion, "edit", broken_edit)
    cfg = compose_config(*BASE, f"output_dir={tmp_path}", "fail_fast=true")
    with pytest.raises(ZeroDivisionError):
        Runner(cfg).run()


def test_corrupt_record_lines_are_reported(tmp_path, caplog):
    cfg = compose_config(*BASE, f"output_dir={tmp_path}", "data.limit=1")
    run_dir = Runner(cfg).run().run_dir
    with (run_dir / "records.jsonl").open("a") as f:
        f.write('{"id": "0000000\n')
    with caplog.at_level(logging.WARNING):
        again = Runner(cfg).run()
    assert again.skipped == 1
    assert any("line 2 is not a record" in r.getMessage() for r in caplog.records)


def test_a_record_line_cut_short_does_not_swallow_the_rerun_record(tmp_path, caplog):
    """A kill mid-write leaves a last line without newline: the rerun's record for the sample
    must land on its own line, so a third run finds it done (not edited again)."""
    cfg = compose_config(*BASE, f"output_dir={tmp_path}", "data.limit=2")
    run_dir = Runner(cfg).run().run_dir
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    (run_dir / last["output"]).unlink()
    (run_dir / "records.jsonl").write_text("\n".join(lines[:-1]) + '\n{"id": "' + last["id"][:4])
    assert Runner(cfg).run().ok == 1
    third = Runner(cfg).run()
    assert (third.ok, third.skipped) == (0, 2)
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["id"] == last["id"]  # the cut line stays


def test_an_emptied_output_image_is_edited_again(tmp_path):
    cfg = compose_config(*BASE, f"output_dir={tmp_path}", "data.limit=2")
    run_dir = Runner(cfg).run().run_dir
    emptied = rows(run_dir)[0]
    (run_dir / emptied["output"]).write_bytes(b"")
    again = Runner(cfg).run()
    assert (again.ok, again.skipped) == (1, 1)
    assert (run_dir / emptied["output"]).stat().st_size > 0


def test_outputs_get_the_umask_permissions_not_private_ones(tmp_path):
    old = os.umask(0o022)
    try:
        run_dir = (
            Runner(compose_config(*BASE, f"output_dir={tmp_path}", "data.limit=1")).run().run_dir
        )
    finally:
        os.umask(old)
    image = run_dir / rows(run_dir)[0]["output"]
    for path in (image, run_dir / "manifest.json", run_dir / "config.yaml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


def test_missing_ranking_clip_stops_bld_before_any_work(tmp_path):
    """BLD's candidate ranking needs CLIP: its absence is named by the setting that chose it,
    before any sample runs and without leaving a run folder."""
    cfg = compose_config(
        "method=bld",
        "model=tiny",
        "method.num_candidates=2",
        f"method.clip_model={tmp_path / 'no-clip'}",
        "data.limit=1",
        f"output_dir={tmp_path / 'out'}",
    )
    with pytest.raises(MissingWeightsError, match="method.clip_model=<path>") as err:
        Runner(cfg).run()
    assert "hf download openai/clip-vit-large-patch14" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_unwritable_output_dir_fails_before_the_model_loads(monkeypatch):
    monkeypatch.setattr(runner, "load_model", lambda cfg: pytest.fail("the model was loaded"))
    cfg = compose_config(*BASE, "output_dir=/dev/null/piebench")
    with pytest.raises(RunError, match="/dev/null is not a writable folder"):
        Runner(cfg).run()


def test_a_retried_sample_records_only_its_own_error(tmp_path, monkeypatch):
    """A batch fails, its samples are retried one by one after the batch's traceback is gone:
    a sample that fails alone records its own traceback, not one chained to the batch's."""
    edit = DDIMInversion.edit

    def fails_in_batches_and_on_one_sample(self, batch, inversion):
        if len(batch) > 1:
            raise ValueError("the whole batch broke")
        if batch.ids == ["100000000001"]:
            raise ZeroDivisionError("this sample broke")
        return edit(self, batch, inversion)

    monkeypatch.setattr(DDIMInversion, "edit", fails_in_batches_and_on_one_sample)
    summary = Runner(compose_config(*BASE, f"output_dir={tmp_path}", "batch_size=3")).run()
    assert (summary.ok, summary.failed) == (2, 1)
    (failed,) = [r for r in rows(summary.run_dir) if r["status"] == "failed"]
    assert failed["id"] == "100000000001"
    assert failed["error"] == "unexpected ZeroDivisionError: this sample broke"
    assert "During handling" not in failed["traceback"]
    assert "the whole batch broke" not in failed["traceback"]


@pytest.mark.skipif(not hasattr(torch, "AcceleratorError"), reason="torch < 2.8")
def test_a_device_failure_stops_the_run_and_keeps_the_finished_samples(tmp_path, monkeypatch):
    """An illegal memory access leaves the CUDA context unusable: the run stops at once with
    the batch's samples named (no sample-by-sample retries recording the rest as failed), and
    a rerun resumes after the samples already written."""
    edit, calls = DDIMInversion.edit, []

    def device_dies_on_the_second_batch(self, batch, inversion):
        calls.append(list(batch.ids))
        if len(calls) == 2:
            raise torch.AcceleratorError("CUDA error: an illegal memory access was encountered")
        return edit(self, batch, inversion)

    monkeypatch.setattr(DDIMInversion, "edit", device_dies_on_the_second_batch)
    cfg = compose_config(*BASE, f"output_dir={tmp_path}", "batch_size=2")
    with pytest.raises(runner.DeviceFailure, match=r"sample\(s\) 200000000002: the device failed"):
        Runner(cfg).run()
    assert [len(ids) for ids in calls] == [2, 1]
    done = [r["id"] for r in rows(tmp_path / "ddim") if r["status"] == "ok"]
    assert len(done) == 2 and not [r for r in rows(tmp_path / "ddim") if r["status"] != "ok"]
    monkeypatch.setattr(DDIMInversion, "edit", edit)
    summary = Runner(cfg).run()
    assert (summary.ok, summary.skipped, summary.failed) == (1, 2, 0)


def test_an_empty_selection_stops_before_any_folder_is_made(tmp_path):
    cfg = compose_config(*BASE, f"output_dir={tmp_path}", "data.limit=0")
    with pytest.raises(RunError, match="no samples selected"):
        Runner(cfg).run()
    assert not (tmp_path / "ddim").exists()


def test_a_second_run_into_a_busy_folder_stops(tmp_path, monkeypatch):
    """Two identical runs in one folder would both edit every sample: the second stops, before
    it loads any weights (a full model load with real checkpoints)."""
    cfg = compose_config(*BASE, f"output_dir={tmp_path}", "data.limit=1")
    (tmp_path / "ddim").mkdir()
    held = try_lock(tmp_path / "ddim" / lock_file_name(0, 1))
    assert held is not None
    loads = []
    real_load = runner.load_model
    monkeypatch.setattr(runner, "load_model", lambda c: loads.append(c) or real_load(c))
    try:
        with pytest.raises(RunError, match="another run is editing"):
            Runner(cfg).run()
        assert not loads
        shard = compose_config(*BASE, f"output_dir={tmp_path}", "data.num_shards=2")
        with pytest.raises(RunError, match=r"split another way \(\.lock is held\)"):
            Runner(shard).run()  # a shard's samples are the whole run's too
    finally:
        held.close()
    assert Runner(cfg).run().ok == 1  # released: the folder is usable again


def test_shards_of_one_split_go_side_by_side_and_another_split_waits(tmp_path):
    """Shards lock their own files; a shard of another ``data.num_shards`` would edit some of the
    same samples (shard 0 of 2 and shard 0 of 3 share sample 0), so it stops."""
    (tmp_path / "ddim").mkdir()
    held = try_lock(tmp_path / "ddim" / lock_file_name(0, 2))
    assert held is not None
    split = (*BASE, f"output_dir={tmp_path}", "data.limit=4")
    try:
        assert Runner(compose_config(*split, "data.shard=1", "data.num_shards=2")).run().ok == 2
        for other in (("data.num_shards=3",), ("data.num_shards=1",)):
            with pytest.raises(RunError, match=r"\.lock\.shard-0-of-2 is held"):
                Runner(compose_config(*split, *other)).run()
        assert not list((tmp_path / "ddim").glob("records.shard-0-of-3*"))
    finally:
        held.close()
    assert Runner(compose_config(*split, "data.num_shards=3")).run().ok == 1  # ids 0 and 3: 3 done


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, monkeypatch, capsys):
    def interrupted(self, model=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(Runner, "run", interrupted)
    args = [*BASE, f"output_dir={tmp_path}"]
    monkeypatch.setattr(sys, "argv", ["piebench run", *args])  # Hydra reads sys.argv
    assert cli_run.main(args) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "resume" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("metrics.names=[nosuch]", "unknown metric 'nosuch'"),
        ("metrics.batch_size=abc", "metrics.batch_size='abc': must be an integer >= 1"),
        ("metrics.ssim.crop_border=false", "contradicts profile 'parity'"),
        ("metrics.fid.resize=nearest", "metrics.fid.resize='nearest'"),
    ],
)
def test_a_metrics_mistake_stops_the_run_before_any_edit(
    tmp_path, monkeypatch, capsys, override, message
):
    started = []

    def stand_in(self, model=None):
        started.append(self)
        raise RunError("stand-in run")

    monkeypatch.setattr(Runner, "run", stand_in)
    args = [*BASE, f"output_dir={tmp_path}", override]
    monkeypatch.setattr(sys, "argv", ["piebench run", *args])
    assert cli_run.main(args) == 2 and not started
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    args.append("evaluate=false")  # not scoring: not checked
    monkeypatch.setattr(sys, "argv", ["piebench run", *args])
    assert cli_run.main(args) == 2 and len(started) == 1


def test_a_truncated_prompt_is_noted_in_the_record(tmp_path):
    bench = tmp_path / "bench"
    shutil.copytree(SAMPLE_ROOT, bench)
    mapping = json.loads((bench / "mapping_file.json").read_text())
    first = min(mapping)
    long_tail = " on a very" + " long" * 80 + " afternoon"
    for key in ("original_prompt", "editing_prompt"):
        mapping[first][key] += long_tail
    (bench / "mapping_file.json").write_text(json.dumps(mapping))
    cfg = compose_config(*BASE, f"output_dir={tmp_path / 'out'}", f"data.root={bench}")
    run_dir = Runner(cfg).run().run_dir
    by_id = {r["id"]: r for r in rows(run_dir)}
    noted = [w for w in by_id[first]["warnings"] if "truncated to 77" in w]
    assert [w.split(" prompt")[0] for w in noted] == ["source", "target"]
    assert not [
        w for r in by_id.values() if r["id"] != first for w in r["warnings"] if "truncated" in w
    ]


def test_a_broken_entry_is_a_failed_row_of_its_edit_type_and_an_all_failed_run_is_shown(tmp_path):
    """A mapping entry the run could not read (a bad mask) is scored as the failure the run
    recorded, in its edit type (whole numbers, rows in id order); a run whose every sample
    failed (no images at all) is still a run the scoring reads: n 0, failed 1."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE_ROOT, data)
    mapping = json.loads((data / "mapping_file.json").read_text())
    mapping["200000000002"]["mask"] = [5, "x"]
    (data / "mapping_file.json").write_text(json.dumps(mapping))
    pixels = {"names": ["psnr_unedit_part", "mse_unedit_part"], "device": "cpu"}
    cfg = compose_config(*BASE, f"output_dir={tmp_path / 'runs'}", f"data.root={data}")
    summary = Runner(cfg).run()
    assert (summary.ok, summary.failed) == (2, 1)
    # the printed failure names the sample once, then the field and the problem
    assert summary.failures == ["200000000002: mask: mask RLE holds non-integer values"]
    frame = evaluate_run(summary.run_dir, data_root=data, metrics_cfg=pixels)
    assert list(frame["id"]) == ["000000000000", "100000000001", "200000000002"]
    assert str(frame["edit_type"].dtype) == "Int64" and list(frame["edit_type"]) == [0, 1, 2]
    broken = frame.set_index("id").loc["200000000002"]
    assert broken["status"] == "failed" and "mask RLE holds non-integer values" in broken["error"]
    by_type = aggregate(stack_runs([frame], ["ddim"]), by=["method", "run", "edit_type"])
    assert list(zip(by_type["edit_type"], by_type["n"], by_type["failed"])) == [
        (0, 1, 0),
        (1, 1, 0),
        (2, 0, 1),
    ]

    only_broken = compose_config(
        *BASE, f"output_dir={tmp_path / 'failed'}", f"data.root={data}", "data.ids=[200000000002]"
    )
    run_dir = Runner(only_broken).run().run_dir
    assert not (run_dir / "annotation_images").exists()
    frame = evaluate_run(run_dir, data_root=data, metrics_cfg=pixels)
    assert list(frame["status"]) == ["failed"]
