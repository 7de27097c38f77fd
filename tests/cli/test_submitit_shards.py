"""The cluster path on one machine: Hydra's submitit_local launcher runs one shard per job
(``-m data.shard=0,1 data.num_shards=2``), each in its own process, into one run folder; the
result equals one unsharded run. SLURM (``hydra/launcher=submitit_slurm``) differs only in where
the jobs run."""

import importlib.util
import subprocess
import sys

import pytest

from piebench.records import parse_run_records
from piebench.runner import Runner
from tests.conftest import compose_config
from tests.test_sharding import comparable, images

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None,
    reason="hydra-submitit-launcher is not installed (pip install -e .[cluster])",
)

BASE = ["method=ddim", "model=tiny", "method.steps=2", "progress=false", "image_format=png"]
BASE += ["batch_size=1", "data.limit=2", "evaluate=false"]


def test_submitit_local_shards_equal_one_unsharded_run(tmp_path, tiny_model):
    one = Runner(compose_config(*BASE, f"output_dir={tmp_path / 'one'}"))
    one.run(tiny_model)
    cmd = [sys.executable, "-m", "piebench", "run", "-m", "hydra/launcher=submitit_local"]
    cmd += [*BASE, f"output_dir={tmp_path / 'two'}", "data.num_shards=2", "data.shard=0,1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = tmp_path / "two" / "ddim"  # the shard sweep does not name job folders
    assert sorted(p.name for p in (tmp_path / "two").iterdir() if not p.name.startswith(".")) == [
        "ddim",
        "multirun.yaml",
    ]
    assert len(list((tmp_path / "two" / ".submitit").glob("*/*_log.out"))) == 2  # two jobs
    assert images(run_dir) == images(one.run_dir) and len(images(run_dir)) == 2
    merged, corrupt = parse_run_records(run_dir)
    assert corrupt == [] and comparable(merged) == comparable(parse_run_records(one.run_dir)[0])
