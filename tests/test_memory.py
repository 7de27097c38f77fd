"""Memory: an out-of-memory batch is retried in halves (never failing samples that fit), and
``batch_size=auto`` picks a size from a measured sample and the free memory."""

import json

import pytest
import torch

from piebench import memory
from piebench import runner as runner_module
from piebench.memory import CPU_AUTO_BATCH, MAX_AUTO_BATCH, AutoBatch, fitting_batch_size
from piebench.methods.ddim import DDIMInversion
from piebench.runner import Runner
from tests.conftest import compose_config

BASE = ["method=ddim", "model=tiny", "method.steps=2", "progress=false"]


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


def oom_above(limit: int, calls: list[int]):
    """A DDIM invert that runs out of memory on batches of more than ``limit`` samples."""
    invert = DDIMInversion.invert

    def fake(self, batch):
        calls.append(len(batch))
        if len(batch) > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return invert(self, batch)

    return fake


def test_out_of_memory_halves_the_batch_and_keeps_the_smaller_size(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(DDIMInversion, "invert", oom_above(2, calls))
    cfg = compose_config(*BASE, f"output_dir={tmp_path}", "data.limit=7", "batch_size=4")
    runner = Runner(cfg)
    summary = runner.run()
    assert (summary.ok, summary.failed) == (7, 0)
    # 4 -> out of memory -> 2 + 2; the rest of the run at 2: 2 + 1
    assert calls == [4, 2, 2, 2, 1]
    assert runner.batch_size == 2
    assert sorted(r["batch_size"] for r in rows(summary.run_dir)) == [1, 2, 2, 2, 2, 2, 2]


def test_a_single_sample_out_of_memory_is_recorded_as_failed(tmp_path, monkeypatch):
    monkeypatch.setattr(DDIMInversion, "invert", oom_above(0, []))
    cfg = compose_config(*BASE, f"output_dir={tmp_path}", "data.limit=2", "batch_size=2")
    summary = Runner(cfg).run()
    assert (summary.ok, summary.failed) == (0, 2)
    assert all("OutOfMemoryError" in r["error"] for r in rows(summary.run_dir))


def test_a_cpu_allocator_failure_counts_as_out_of_memory():
    assert memory.is_out_of_memory(
        RuntimeError("DefaultCPUAllocator: not enough memory: out of memory")
    )
    assert not memory.is_out_of_memory(RuntimeError("shape mismatch"))


def test_cublas_and_cudnn_workspace_failures_count_as_out_of_memory():
    """cuBLAS / cuDNN report an exhausted device as a failed allocation of their own: the batch
    is halved, and it is no device failure that stops the run."""
    for text in (
        "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
        "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
    ):
        assert memory.is_out_of_memory(RuntimeError(text))
        if hasattr(torch, "AcceleratorError"):
            assert not memory.is_device_failure(torch.AcceleratorError(text))
    if hasattr(torch, "AcceleratorError"):
        assert memory.is_device_failure(torch.AcceleratorError("device-side assert triggered"))
    assert not memory.is_device_failure(RuntimeError("device-side assert triggered"))


@pytest.mark.parametrize(
    "available, per_sample, expected",
    [(10e9, 1e9, 8), (0.5e9, 1e9, 1), (1e12, 1e6, MAX_AUTO_BATCH), (1e9, 0, MAX_AUTO_BATCH)],
)
def test_fitting_batch_size_keeps_headroom(available, per_sample, expected):
    assert fitting_batch_size(available, per_sample) == expected


def test_auto_on_cpu_is_the_documented_fallback(tmp_path):
    cfg = compose_config(*BASE, f"output_dir={tmp_path}", "data.limit=5", "batch_size=auto")
    summary = Runner(cfg).run()
    assert summary.ok == 5
    assert sorted(r["batch_size"] for r in rows(summary.run_dir)) == [1] + [CPU_AUTO_BATCH] * 4


def test_auto_on_cuda_measures_one_sample_then_fills_free_memory(monkeypatch):
    """The CUDA arithmetic with the allocator's counters faked: 3 GB resident, the sample's
    peak 1 GB above it, 20 GB free + 2 GB cached -> 0.85 * 22 GB / 1 GB = 18 samples."""
    gib = 2**30
    fake = {
        "reset_peak_memory_stats": lambda device: None,
        "memory_allocated": lambda device: 3 * gib,
        "max_memory_allocated": lambda device: 4 * gib,
        "memory_reserved": lambda device: 5 * gib,
        "mem_get_info": lambda device: (20 * gib, 80 * gib),
    }
    for name, value in fake.items():
        monkeypatch.setattr(torch.cuda, name, value)
    auto = AutoBatch(torch.device("cuda"))
    assert auto.size() == 1
    auto.measure_start()
    auto.measure_end(1)
    assert auto.chosen == auto.size() == int(0.85 * 22)


def test_auto_measures_the_first_sample_that_goes_through(tmp_path, monkeypatch):
    """A first sample that fails leaves only a partial peak: ``auto`` measures the next sample
    instead of sizing the run from it."""
    measured: list[int] = []

    class MeasuredAsOnCuda(AutoBatch):
        """Nothing chosen before a measurement (as on CUDA); the measurement itself faked."""

        def __init__(self, device):
            super().__init__(device)
            self.chosen = None

        def measure_start(self):
            pass

        def measure_end(self, samples):
            measured.append(samples)
            self.chosen = 3

    invert = DDIMInversion.invert

    def first_sample_breaks(self, batch):
        if batch.ids == ["000000000000"]:
            raise ZeroDivisionError("a bug met by the first sample only")
        return invert(self, batch)

    monkeypatch.setattr(runner_module, "AutoBatch", MeasuredAsOnCuda)
    monkeypatch.setattr(DDIMInversion, "invert", first_sample_breaks)
    cfg = compose_config(*BASE, f"output_dir={tmp_path}", "data.limit=6", "batch_size=auto")
    summary = Runner(cfg).run()
    assert (summary.ok, summary.failed) == (5, 1)
    assert measured == [1]
    done = {r["id"]: r["batch_size"] for r in rows(summary.run_dir) if r["status"] == "ok"}
    # the failed first sample, the measured second alone, then 3 + the last one
    assert sorted(done.values()) == [1, 1, 3, 3, 3]
