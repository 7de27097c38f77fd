"""What a run folder's manifest says about the arithmetic its images came from."""

import json

import pytest
import torch

from piebench.manifest import device_numerics
from piebench.runner import Runner
from tests.conftest import compose_config


@pytest.fixture
def restore_cuda_flags():
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32)
    yield
    matmul.allow_tf32, cudnn.allow_tf32 = saved


def test_cuda_numerics_name_the_tf32_settings_in_force(restore_cuda_flags):
    """torch's defaults put float32 convolutions (not products) in TF32 on a GPU: a float32 run
    there is not the CPU's float32, and the manifest says which it was (no GPU needed to read)."""
    cuda = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True
    assert device_numerics(cuda).startswith("tf32 matmul=off conv=on; reduced-precision")
    torch.backends.cudnn.allow_tf32 = False
    assert device_numerics(cuda).startswith("tf32 matmul=off conv=off;")


def test_cpu_numerics_name_the_thread_count():
    assert device_numerics(torch.device("cpu")) == f"cpu threads={torch.get_num_threads()}"


def test_a_resumed_run_keeps_every_invocation(tmp_path):
    """The manifest's top level is the last invocation; ``invocations`` lists each one (an
    interrupted one too) with its machine, versions and what it did."""
    base = ["method=ddim", "model=tiny", "method.steps=2", "progress=false", "evaluate=false"]
    cfg = compose_config(*base, f"output_dir={tmp_path}", "data.limit=1")
    run_dir = Runner(cfg).run().run_dir
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest.update(started="2026-12-03T12:00:00+00:00")  # as a killed second invocation
    for key in ("finished", "summary", "folder_records"):  # leaves it: its start only
        manifest.pop(key)
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    Runner(compose_config(*base, f"output_dir={tmp_path}", "data.limit=2")).run()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    first, cut, last = manifest["invocations"]
    assert first["summary"] == {"ok": 1, "failed": 0, "skipped": 0} and "finished" in first
    assert cut["started"] == "2026-12-03T12:00:00+00:00" and "finished" not in cut
    assert last["summary"] == {"ok": 1, "failed": 0, "skipped": 1}
    assert manifest["folder_records"] == {"ok": 2, "failed": 0}
    assert manifest["summary"] == last["summary"] and manifest["finished"] == last["finished"]
