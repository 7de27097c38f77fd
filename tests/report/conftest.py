"""Two tiny-model runs on the bundled sample benchmark, scored with tiny metric networks, and a
report over them (built once per session; tests that change files make their own copy).

``direct`` edits all 10 samples; ``ddim`` only the first 8 (so 2 are missing) and one of its
samples then fails (a later record line, as a retry that failed would write).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from piebench.__main__ import main
from piebench.data.pie_bench import SAMPLE_ROOT
from piebench.runner import Runner
from tests.conftest import compose_config
from tests.metrics.tiny_networks import tiny_metrics_cfg
from tests.scoring.test_cli import overrides

FAILED_ID = "400000000004"
PAGE_SIZE = 3


@dataclass(frozen=True)
class TinyRuns:
    direct: Path
    ddim: Path
    metrics_cfg: dict

    def report_args(self, out: Path, *extra: str) -> list[str]:
        """``python -m piebench report`` arguments for both runs, written to ``out``."""
        runs = [self.direct, self.ddim]
        return [*overrides(SAMPLE_ROOT, runs, self.metrics_cfg), f"out={out}", *extra]


def tiny_run(method: str, out: Path, *extra: str) -> Path:
    cfg = compose_config(
        f"method={method}",
        "model=tiny",
        "method.steps=3",
        "batch_size=5",
        "progress=false",
        f"output_dir={out}",
        *extra,
    )
    summary = Runner(cfg).run()
    assert summary.failed == 0, summary.failures
    return summary.run_dir


def fail_sample(run_dir: Path, sample_id: str) -> None:
    """Append a failed attempt for ``sample_id`` (the last record line per id wins)."""
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    record = next(json.loads(line) for line in lines if json.loads(line)["id"] == sample_id)
    record.update(status="failed", error="NaN latents at step 2", output=None)
    with (run_dir / "records.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> TinyRuns:
    out = tmp_path_factory.mktemp("outputs")
    direct = tiny_run("direct", out)
    ddim = tiny_run("ddim", out, "data.limit=8")
    fail_sample(ddim, FAILED_ID)
    return TinyRuns(direct, ddim, tiny_metrics_cfg(tmp_path_factory.mktemp("tiny-nets")))


@pytest.fixture(scope="session")
def report_dir(tiny_runs: TinyRuns, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(["report", *tiny_runs.report_args(out, f"page_size={PAGE_SIZE}")]) == 0
    return out
