"""``python -m piebench run method=bld`` as a user runs it, then scored by the metrics suite: the
table row says that BLD reads the ground-truth mask."""

from __future__ import annotations

import json

import pandas as pd

from piebench.__main__ import main
from piebench.data.pie_bench import SAMPLE_ROOT
from piebench.scoring.tables import MASK_INPUT_NOTE
from tests.cli.test_run_cli import piebench_run
from tests.scoring.test_cli import overrides


def test_bld_run_is_scored_and_flagged_as_mask_input(tmp_path, tiny_cfg, capsys):
    result = piebench_run("method=bld", f"output_dir={tmp_path}", "data.limit=2", "batch_size=2")
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "bld"
    rows = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok", "ok"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["method"]["steps_offset"] == 0

    assert main(["evaluate", *overrides(SAMPLE_ROOT, [run_dir], tiny_cfg)]) == 0
    printed = capsys.readouterr().out
    assert "| bld (mask input) " in printed and MASK_INPUT_NOTE in printed
    scores = pd.read_csv(run_dir / "scores_parity.csv")
    assert len(scores) == 2 and scores["psnr_unedit_part"].notna().all()
