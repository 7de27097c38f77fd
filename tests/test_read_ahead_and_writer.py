"""Reading ahead in DataLoader workers and saving on the writer thread change when work happens,
never what a run produces: same images, same records, failures recorded in place."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import piebench.runner as runner_module
from piebench.data.pie_bench import SAMPLE_ROOT, load_benchmark
from piebench.data.prefetch import load_in_order
from piebench.output_writer import OutputWriter
from piebench.runner import Runner
from tests.conftest import compose_config

BASE = ["method=ddim", "model=tiny", "method.steps=2", "data.limit=3", "progress=false"]


@pytest.fixture
def broken_bench(tmp_path: Path) -> Path:
    """The bundled sample benchmark with its second image unreadable."""
    root = tmp_path / "bench"
    shutil.copytree(SAMPLE_ROOT, root)
    second = load_benchmark(root).samples[1]
    second.image_file.write_bytes(b"not an image")
    return root


@pytest.mark.parametrize("workers", [0, 2])
def test_images_arrive_in_order_with_read_errors_in_place(broken_bench: Path, workers: int):
    samples = load_benchmark(broken_bench, limit=4).samples
    loaded = list(load_in_order(samples, 64, "stretch_lanczos", workers))
    assert [item.sample.id for item in loaded] == [s.id for s in samples]
    assert loaded[1].image is None and "unreadable image" in loaded[1].error
    for item in (loaded[0], *loaded[2:]):
        assert item.error is None
        np.testing.assert_array_equal(item.image, item.sample.load_image(64, "stretch_lanczos"))


def _outputs(run_dir: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    rows = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    status = {r["id"]: r["status"] for r in rows}
    images = {
        r["id"]: np.asarray(Image.open(run_dir / r["output"])) for r in rows if r["status"] == "ok"
    }
    return status, images


def test_read_ahead_and_background_writes_give_the_same_run(broken_bench: Path, tmp_path: Path):
    common = [*BASE, f"data.root={broken_bench}", "batch_size=2", "evaluate=false"]
    plain = Runner(
        compose_config(
            *common, f"output_dir={tmp_path / 'a'}", "data.workers=0", "async_write=false"
        )
    ).run()
    fast = Runner(
        compose_config(
            *common, f"output_dir={tmp_path / 'b'}", "data.workers=2", "async_write=true"
        )
    ).run()
    assert (plain.ok, plain.failed) == (fast.ok, fast.failed) == (2, 1)
    plain_status, plain_images = _outputs(plain.run_dir)
    fast_status, fast_images = _outputs(fast.run_dir)
    assert plain_status == fast_status
    assert plain_images.keys() == fast_images.keys()
    for key, image in plain_images.items():
        np.testing.assert_array_equal(image, fast_images[key])


def test_a_failed_write_is_recorded_and_the_rerun_redoes_only_it(tmp_path: Path, monkeypatch):
    real_write = runner_module.write_image_atomic
    victim = load_benchmark(SAMPLE_ROOT, limit=3).samples[1]

    def write_or_fail(image, path, quality=75):
        if path.stem == victim.id:
            raise OSError(28, "No space left on device")
        real_write(image, path, quality)

    monkeypatch.setattr(runner_module, "write_image_atomic", write_or_fail)
    cfg = compose_config(*BASE, f"output_dir={tmp_path}", "batch_size=3", "evaluate=false")
    summary = Runner(cfg).run()
    assert (summary.ok, summary.failed) == (2, 1)
    assert summary.failures == [
        f"{victim.id}: cannot write annotation_images/{victim.image_path}: No space left on device"
    ]
    monkeypatch.setattr(runner_module, "write_image_atomic", real_write)
    again = Runner(cfg).run()
    assert (again.ok, again.skipped, again.failed) == (1, 2, 0)


def test_the_writer_holds_at_most_one_batch_and_raises_job_errors():
    done: list[str] = []
    release = threading.Event()

    def slow() -> None:
        release.wait(5)
        time.sleep(0.05)
        done.append("first batch")

    with OutputWriter(background=True) as writer:
        writer.submit_batch([slow])
        assert done == []  # queued, not run in the caller
        release.set()
        writer.submit_batch([lambda: done.append("second batch")])
        assert done[0] == "first batch"  # the second batch waited for the first
    assert done == ["first batch", "second batch"]

    def broken() -> None:
        raise RuntimeError("disk on fire")

    writer = OutputWriter(background=True)
    writer.submit_batch([broken])
    with pytest.raises(RuntimeError, match="disk on fire"):
        writer.close()
