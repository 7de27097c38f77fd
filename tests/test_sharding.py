"""Sharded runs: ``data.shard=i data.num_shards=n`` split the sorted selection, write into one
run folder without clashing, and read back (records, scoring) like the unsharded run."""

import json

import pytest

from piebench import runner
from piebench.data.errors import BenchmarkError
from piebench.data.pie_bench import SAMPLE_ROOT, load_benchmark
from piebench.metrics.timing import read_records
from piebench.records import parse_run_records
from piebench.runner import Runner
from piebench.scoring.evaluate import evaluate_run
from piebench.scoring.runs import open_run
from tests.conftest import compose_config

# batch_size=1: batch mates change float rounding, so equal bytes need equal batches
BASE = ["method=ddim", "model=tiny", "method.steps=2", "progress=false", "image_format=png"]
BASE += ["batch_size=1"]
TIMING_KEYS = ("inversion_s", "edit_s", "total_s", "peak_mem_mb", "batch_size")


def comparable(records: dict[str, dict]) -> dict[str, dict]:
    """Records without what depends on timing and batching."""
    return {k: {f: v for f, v in r.items() if f not in TIMING_KEYS} for k, r in records.items()}


def images(run_dir) -> dict[str, bytes]:
    root = run_dir / "annotation_images"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*.png")}


@pytest.mark.parametrize("num_shards", [1, 2, 3])
def test_shards_are_disjoint_and_cover_the_selection(num_shards):
    whole = [s.id for s in load_benchmark(SAMPLE_ROOT, types=[0, 1, 2, 9], limit=5).samples]
    parts = [
        [s.id for s in load_benchmark(SAMPLE_ROOT, [0, 1, 2, 9], None, 5, i, num_shards).samples]
        for i in range(num_shards)
    ]
    assert sorted(i for part in parts for i in part) == whole
    assert sum(len(p) for p in parts) == len(whole)  # disjoint


def test_shard_outside_the_range_is_a_clear_error():
    with pytest.raises(BenchmarkError, match=r"data\.shard=2 is outside 0\.\.1"):
        load_benchmark(SAMPLE_ROOT, shard=2, num_shards=2)


def test_two_shards_give_the_images_and_records_of_one_run(tmp_path, tiny_model):
    one = Runner(compose_config(*BASE, f"output_dir={tmp_path / 'one'}", "data.limit=5"))
    one.run(tiny_model)
    shard_dir = tmp_path / "two" / "ddim"
    for shard in (1, 0):  # either order
        cfg = compose_config(
            *BASE,
            f"output_dir={tmp_path / 'two'}",
            "data.limit=5",
            "data.num_shards=2",
            f"data.shard={shard}",
        )
        summary = Runner(cfg).run(tiny_model)
        assert summary.ok == (3 if shard == 0 else 2)
    assert images(shard_dir) == images(one.run_dir) and len(images(shard_dir)) == 5
    assert sorted(p.name for p in shard_dir.glob("records*")) == [
        "records.shard-0-of-2.jsonl",
        "records.shard-1-of-2.jsonl",
    ]
    merged, corrupt = parse_run_records(shard_dir)
    single, _ = parse_run_records(one.run_dir)
    assert corrupt == [] and comparable(merged) == comparable(single)
    assert list(read_records(shard_dir)["id"]) == list(read_records(one.run_dir)["id"])
    assert list(open_run(shard_dir).records.index) == sorted(single)

    shared = json.loads((shard_dir / "manifest.json").read_text())
    unsharded = json.loads((one.run_dir / "manifest.json").read_text())
    assert shared["config_hash"] == unsharded["config_hash"]  # one identity for every shard
    assert "shard" not in shared["config"]["data"] and "summary" not in shared
    per_shard = [
        json.loads((shard_dir / f"manifest.shard-{i}-of-2.json").read_text()) for i in (0, 1)
    ]
    assert [m["summary"]["ok"] for m in per_shard] == [3, 2]
    assert "shard: 0" not in (shard_dir / "config.yaml").read_text()


def test_a_finished_shard_resumes_without_redoing_its_samples(tmp_path, tiny_model):
    cfg = compose_config(
        *BASE, f"output_dir={tmp_path}", "data.limit=3", "data.num_shards=2", "data.shard=1"
    )
    Runner(cfg).run(tiny_model)
    again = Runner(cfg).run(tiny_model)
    assert (again.ok, again.skipped) == (0, 1)


def test_a_finished_run_and_an_empty_shard_read_no_weights(tmp_path, tiny_model, monkeypatch):
    """Rerunning a finished run (or a shard with no samples) loads no model: on real weights
    that is the slowest step of a run with nothing to edit. Each still writes its finished
    manifest, the device named from the config."""
    finished = compose_config(*BASE, f"output_dir={tmp_path}", "data.limit=2")
    Runner(finished).run(tiny_model)

    def no_weights(cfg):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(runner, "load_model", no_weights)
    assert Runner(finished).run().skipped == 2
    empty = compose_config(
        *BASE, f"output_dir={tmp_path / 'sharded'}", "data.limit=1", "data.num_shards=2"
    )
    empty.data.shard = 1
    assert (Runner(empty).run().ok, Runner(empty).run().skipped) == (0, 0)
    manifest = tmp_path / "sharded" / "ddim" / "manifest.shard-1-of-2.json"
    assert json.loads(manifest.read_text())["summary"] == {"ok": 0, "failed": 0, "skipped": 0}
    with pytest.raises(FileNotFoundError, match="no sample of this run has been edited yet"):
        evaluate_run(manifest.parent, metrics_cfg={"names": ["psnr_unedit_part"]})
    with pytest.raises(AssertionError, match="was loaded"):  # the check can fail
        Runner(compose_config(*BASE, f"output_dir={tmp_path}", "data.limit=3")).run()
