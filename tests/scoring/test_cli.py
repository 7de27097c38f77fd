"""The evaluate / table / leaderboard commands through ``python -m piebench``'s dispatcher."""

from __future__ import annotations

import pandas as pd
import pytest

from piebench.__main__ import main
from piebench.scoring.leaderboard import LEADERBOARD_COLUMNS


def overrides(bench, runs, cfg) -> list[str]:
    arch = ",".join(f"{k}:{v}" for k, v in cfg["dino"]["arch"].items())
    return [
        f"runs=[{','.join(str(r) for r in runs)}]",
        f"data.root={bench}",
        f"metrics.clip.path={cfg['clip']['path']}",
        f"metrics.dino.weights={cfg['dino']['weights']}",
        f"metrics.dino.arch={{{arch}}}",
        "metrics.dino.resize=64",
        f"metrics.lpips.backbone_weights={cfg['lpips']['backbone_weights']}",
        "metrics.device=cpu",
    ]


def test_evaluate_then_table_reuses_scores_then_leaderboard(
    bench, our_run, reference_run, tiny_cfg, tmp_path, capsys, monkeypatch
):
    args = overrides(bench, [our_run, reference_run], tiny_cfg)
    assert main(["evaluate", *args]) == 0
    printed = capsys.readouterr().out
    assert (
        "metric mode: parity" in printed
        and "| direct " in printed
        and "directinversion+p2p" in printed
    )

    def no_rescoring(*a, **k):
        raise AssertionError("table must reuse saved scores")

    monkeypatch.setattr("piebench.scoring.cli.evaluate_run", no_rescoring)
    assert main(["table", "--format", "csv", "compare=paper", *args]) == 0
    printed = capsys.readouterr().out
    assert "psnr_unedit_part ↑" in printed and "vs published Table 1" in printed
    assert "direct+p2p" in printed and "delta_%" in printed

    out = tmp_path / "board.csv"
    assert main(["leaderboard", f"out={out}", *args]) == 0
    board = pd.read_csv(out)
    assert tuple(board.columns) == LEADERBOARD_COLUMNS
    assert list(board["method"]) == ["direct", "directinversion+p2p"]
    assert list(board["n_scored"]) == [2, 3] and set(board["metric_mode"]) == {"parity"}


def test_clean_mode_is_labelled_and_scored_separately(bench, our_run, tiny_cfg, capsys):
    assert main(["evaluate", "metrics=clean", *overrides(bench, [our_run], tiny_cfg)]) == 0
    assert "metric mode: clean" in capsys.readouterr().out
    assert (our_run / "scores_clean.csv").is_file() and not (our_run / "scores_parity.csv").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("metrics.lpips.backbone_weights=/nowhere/sq.pth", "metrics.lpips.backbone_weights=<path>"),
        ("metrics.names=[psnr_unedited]", "Did you mean 'psnr_unedit_part'"),
    ],
)
def test_user_errors_are_one_line(bench, our_run, tiny_cfg, capsys, override, message):
    assert main(["evaluate", *overrides(bench, [our_run], tiny_cfg), override]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
