"""The evaluate / table / leaderboard commands through ``python -m piebench``'s dispatcher."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from piebench.__main__ import main
from piebench.metrics.profiles import BUILTIN_PROFILES, resolve_profile
from piebench.metrics.registry import DEFAULT_METRICS
from piebench.scoring.evaluate import NO_EDITED_IMAGE, evaluate_run
from piebench.scoring.leaderboard import LEADERBOARD_COLUMNS
from tests.scoring.conftest import listing, read_only

PARITY_HEADER = (
    "metric profile: parity (mode=parity, ssim.crop_border=true, ssim.clamp_variance=false, "
    "dino.antialias=false)"
)


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
    assert printed.startswith(f"PIE-Bench scores, {PARITY_HEADER}\n")
    assert "| direct " in printed and "directinversion+p2p" in printed

    def no_rescoring(*a, **k):
        raise AssertionError("table must reuse saved scores")

    monkeypatch.setattr("piebench.scoring.cli.evaluate_run", no_rescoring)
    assert main(["table", "--format", "csv", "compare=paper", *args]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"# PIE-Bench scores, {PARITY_HEADER}\n")
    assert f"# Ours vs published Table 1 (paper units), {PARITY_HEADER}" in printed
    assert "psnr_unedit_part ↑" in printed and "direct+p2p" in printed and "delta_%" in printed
    assert main(["table", "--format", "latex", *args]) == 0
    assert capsys.readouterr().out.startswith(f"% PIE-Bench scores, {PARITY_HEADER}\n")

    out = tmp_path / "board.csv"
    assert main(["leaderboard", f"out={out}", *args]) == 0
    board = pd.read_csv(out)
    assert tuple(board.columns) == LEADERBOARD_COLUMNS
    assert list(board["method"]) == ["direct", "directinversion+p2p"]
    assert list(board["n_scored"]) == [2, 3] and set(board["metric_mode"]) == {"parity"}
    assert set(board["metric_profile"]) == {"parity"}


def networkless(bench, runs, tmp_path) -> list[str]:
    """Overrides scoring only PSNR and MSE on the unedited part: no metric network needed."""
    nowhere = str(tmp_path / "none.pth")
    return [
        f"runs=[{','.join(str(r) for r in runs)}]",
        f"data.root={bench}",
        f"metrics.clip.path={nowhere}",
        f"metrics.dino.weights={nowhere}",
        f"metrics.lpips.backbone_weights={nowhere}",
        "metrics.device=cpu",
        "metrics.names=[psnr_unedit_part,mse_unedit_part]",
    ]


def test_reference_folders_are_never_written_to(bench, reference_run, tmp_path, caplog):
    """A folder of the reference's tree is someone else's (shared, often read-only): its scores
    go to a folder of ours under scores_dir, one per folder path, where the next commands (the
    report too) find and reuse them."""
    twin = tmp_path / "output2" / reference_run.name  # the same folder name in another tree
    shutil.copytree(reference_run, twin)
    scores_dir = tmp_path / "scores"
    args = [*networkless(bench, [reference_run, twin], tmp_path), f"scores_dir={scores_dir}"]
    before = [listing(reference_run), listing(twin)]
    caplog.set_level(logging.INFO, logger="piebench")
    with read_only(reference_run), read_only(twin):
        assert main(["table", *args]) == 0
        assert [listing(reference_run), listing(twin)] == before
        saved = sorted(scores_dir.glob("*/scores_parity.csv"))
        assert len(saved) == 2 and saved[0].parent != saved[1].parent
        assert all(path.parent.name.startswith(f"{reference_run.name}-") for path in saved)
        mtimes = [path.stat().st_mtime_ns for path in saved]
        caplog.clear()
        assert main(["table", *args]) == 0
        assert main(["leaderboard", *args]) == 0
        assert main(["report", *args, f"out={tmp_path / 'report'}"]) == 0
        assert caplog.text.count("reusing") == 6 and "scoring (" not in caplog.text
        assert [path.stat().st_mtime_ns for path in saved] == mtimes
        assert main(["evaluate", *args]) == 0  # scoring again: into scores_dir too
        assert [listing(reference_run), listing(twin)] == before


def test_a_reference_folder_missing_edits_is_warned_about_once_per_command(
    bench, reference_run, tmp_path, caplog, capsys
):
    """A reference tree lacking some benchmark edits is scored on those present, the others
    count as failed (as in a run of ours): each command says so once, whether it scores (first
    ``table``, ``evaluate``) or reuses the scores."""
    next(reference_run.rglob("111000000000.jpg")).unlink()
    args = networkless(bench, [reference_run], tmp_path)
    caplog.set_level(logging.INFO, logger="piebench")
    for command, action in [
        ("table", "scoring ("),
        ("table", "reusing"),
        ("evaluate", "scoring ("),
    ]:
        caplog.clear()
        assert main([command, *args]) == 0
        assert caplog.text.count("1 of 3 benchmark images have no edited image") == 1, command
        assert action in caplog.text
    (saved,) = (tmp_path / "outputs" / "scores").glob("*/scores_parity.csv")
    scores = pd.read_csv(saved, dtype={"id": str}).set_index("id")
    assert list(scores["status"]) == ["ok", "failed", "ok"]
    assert scores.loc["111000000000", "error"] == NO_EDITED_IMAGE
    assert scores["mse_unedit_part"].notna().tolist() == [True, False, False]  # 922: no region
    capsys.readouterr()
    assert main(["leaderboard", *args]) == 0
    board = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert (board.at[0, "n_images"], board.at[0, "n_scored"]) == (3, 2)
    assert main(["report", *args, f"out={tmp_path / 'report'}"]) == 0
    capsys.readouterr()  # a selection of failed samples only keeps every metric column
    assert main(["table", "--format", "csv", *args, "data.ids=[111000000000]"]) == 0
    shown = csv_parts(capsys.readouterr().out)[1]
    assert (shown["n"].iloc[0], shown["failed"].iloc[0]) == (0, 1)
    assert [c.split(" ")[0] for c in shown.columns[-2:]] == ["psnr_unedit_part", "mse_unedit_part"]


def test_our_run_not_writable_is_shown_but_not_scored(
    bench, our_run, tmp_path, monkeypatch, capsys
):
    """Our runs keep their scores beside their records; one that cannot be written to (as root
    every folder can: the check is faked) still shows saved scores, and scoring it fails in one
    line naming the folder instead of after scoring."""
    args = networkless(bench, [our_run], tmp_path)
    assert main(["evaluate", *args]) == 0
    saved = listing(our_run)
    access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode, **k: Path(path) != our_run and access(path, mode, **k)
    )
    capsys.readouterr()
    assert main(["table", *args]) == 0
    assert main(["evaluate", *args]) == 1
    err = capsys.readouterr().err
    assert f"{our_run} is not writable" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and listing(our_run) == saved


def test_leaderboard_is_csv_unless_another_format_is_asked(bench, our_run, tmp_path, capsys):
    args = networkless(bench, [our_run], tmp_path)
    assert main(["leaderboard", *args]) == 0
    assert capsys.readouterr().out.splitlines()[0] == ",".join(LEADERBOARD_COLUMNS)
    assert main(["leaderboard", "--format", "markdown", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| method ") and lines[1].startswith("|---") and len(lines) == 3
    out = tmp_path / "board.tex"
    assert main(["leaderboard", "--format", "latex", f"out={out}", *args]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("\\begin{tabular}") and out.read_text() == printed


@pytest.mark.parametrize("profile", ["clean", "parity_current"])
def test_other_profiles_are_labelled_and_scored_separately(
    bench, our_run, tiny_cfg, capsys, profile
):
    assert main(["evaluate", f"metrics={profile}", *overrides(bench, [our_run], tiny_cfg)]) == 0
    header = resolve_profile({"profile": profile}).header()
    assert capsys.readouterr().out.startswith(f"PIE-Bench scores, {header}\n")
    assert (our_run / f"scores_{profile}.csv").is_file()
    assert not (our_run / "scores_parity.csv").exists()


def test_table_rescores_files_saved_under_other_settings(bench, our_run, tiny_cfg, monkeypatch):
    """A scores file whose sidecar records other settings (here: one from before profiles,
    scored with today's SSIM and DINO resize) is scored again, not reused."""
    args = overrides(bench, [our_run], tiny_cfg)
    assert main(["evaluate", *args]) == 0
    sidecar = our_run / "scores_parity.json"
    meta = json.loads(sidecar.read_text())
    assert meta["metric_profile"] == "parity"
    assert meta["metric_settings"] == BUILTIN_PROFILES["parity"].settings()
    del meta["metric_settings"]
    sidecar.write_text(json.dumps(meta))
    calls = []

    def counting(*a, **k):
        calls.append(a)
        return evaluate_run(*a, **k)

    monkeypatch.setattr("piebench.scoring.cli.evaluate_run", counting)
    assert main(["table", *args]) == 0
    assert len(calls) == 1
    assert main(["table", *args]) == 0  # the rescored file has the settings: reused
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("metrics.lpips.backbone_weights=/nowhere/sq.pth", "metrics.lpips.backbone_weights=<path>"),
        ("metrics.names=[psnr_unedited]", "Did you mean 'psnr_unedit_part'"),
        ("metrics.dino.antialias=true", "contradicts profile 'parity'"),
        ("rescor=true", "unknown config key 'rescor' (did you mean 'rescore'?)"),
        ("metrics=paritty", "Could not find 'metrics/paritty'"),
        ("by=type", "unknown by='type'; valid: method, edit_type"),
        ("data.limit=abc", "config key data.limit: Value 'abc'"),
        ("rescore=maybe", "config key rescore: Value 'maybe' is not a valid bool"),
    ],
)
def test_user_errors_are_one_line(bench, our_run, tiny_cfg, capsys, override, message):
    assert main(["evaluate", *overrides(bench, [our_run], tiny_cfg), override]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "Config search path" not in err


def test_a_missing_run_folder_fails_before_any_run_is_scored(bench, our_run, tiny_cfg, capsys):
    args = overrides(bench, [our_run, "/nowhere/direct"], tiny_cfg)
    assert main(["table", *args]) == 1
    err = capsys.readouterr().err
    assert "run folder /nowhere/direct does not exist" in err and "Traceback" not in err
    assert not list(our_run.glob("scores_*.csv"))  # the good run was not scored first


def test_one_run_folder_may_be_given_without_brackets(bench, our_run, tiny_cfg, capsys):
    args = overrides(bench, [our_run], tiny_cfg)[1:]
    assert main(["evaluate", f"runs={our_run}", *args]) == 0
    assert "| direct " in capsys.readouterr().out


def test_table_shows_a_run_scored_on_a_few_metrics_without_rescoring(
    bench, our_run, tmp_path, capsys, caplog
):
    """After ``evaluate metrics.names=[...]`` a plain ``table`` or ``leaderboard`` shows what was
    scored (a warning names the rest) instead of rescoring all eight with networks that are
    not there; asking for a missing metric by name still scores it, beside the saved ones."""
    nowhere = str(tmp_path / "none.pth")
    args = [
        f"runs=[{our_run}]",
        f"data.root={bench}",
        f"metrics.clip.path={nowhere}",
        f"metrics.dino.weights={nowhere}",
        f"metrics.lpips.backbone_weights={nowhere}",
        "metrics.device=cpu",
    ]
    assert main(["evaluate", *args, "metrics.names=[psnr_unedit_part,mse_unedit_part]"]) == 0
    capsys.readouterr()
    assert main(["table", *args]) == 0
    assert "psnr_unedit_part" in capsys.readouterr().out
    assert "lacks clip_similarity_source_image" in caplog.text
    assert main(["leaderboard", *args]) == 0
    assert "direct" in capsys.readouterr().out
    assert main(["table", *args, "metrics.names=[psnr_unedit_part,lpips_unedit_part]"]) == 1
    assert "metrics.lpips.backbone_weights=<path>" in capsys.readouterr().err
    assert main(["table", *args, "metrics.names=[ssim_unedit_part]"]) == 0
    columns = pd.read_csv(our_run / "scores_parity.csv").columns
    assert {"psnr_unedit_part", "mse_unedit_part", "ssim_unedit_part"} <= set(columns)
    # evaluate scores again, on the asked metric and the saved ones: none is dropped
    assert main(["evaluate", *args, "metrics.names=[psnr_unedit_part]"]) == 0
    columns = pd.read_csv(our_run / "scores_parity.csv").columns
    assert {"psnr_unedit_part", "mse_unedit_part", "ssim_unedit_part"} <= set(columns)


def test_table_rescores_a_run_changed_since_or_scored_elsewhere(
    bench, our_run, tmp_path, monkeypatch, capsys
):
    """Saved scores stand for the run's records and benchmark when scored: a run extended or
    redone since, or another benchmark, is scored again; a selection only narrows the view."""
    nowhere = str(tmp_path / "none.pth")
    args = [
        f"runs=[{our_run}]",
        f"data.root={bench}",
        f"metrics.clip.path={nowhere}",
        "metrics.device=cpu",
        "metrics.names=[psnr_unedit_part,mse_unedit_part]",
    ]
    calls = []

    def counting(*a, **k):
        calls.append(k["metrics_cfg"]["names"])
        return evaluate_run(*a, **k)

    monkeypatch.setattr("piebench.scoring.cli.evaluate_run", counting)
    assert main(["evaluate", *args]) == 0 and len(calls) == 1
    assert main(["table", *args]) == 0 and len(calls) == 1  # unchanged: reused
    with (our_run / "records.jsonl").open("a") as f:  # a rerun appends a record
        f.write((our_run / "records.jsonl").read_text().splitlines()[0] + "\n")
    assert main(["table", *args]) == 0 and len(calls) == 2
    assert main(["table", *args]) == 0 and len(calls) == 2
    saved = len(pd.read_csv(our_run / "scores_parity.csv"))
    capsys.readouterr()
    # a selection narrows what is shown: no scoring, the saved scores of the whole run stay
    assert main(["table", "--format", "csv", *args, "data.limit=1"]) == 0 and len(calls) == 2
    shown = csv_parts(capsys.readouterr().out)[1]
    assert (shown["n"].iloc[0], shown["failed"].iloc[0]) == (1, 0)
    assert len(pd.read_csv(our_run / "scores_parity.csv")) == saved
    other = tmp_path / "bench-copy"
    shutil.copytree(bench, other)
    assert main(["table", *args[:1], f"data.root={other}", *args[2:]]) == 0 and len(calls) == 3
    plain = [a for a in args if not a.startswith("metrics.names")]
    assert main(["table", *plain]) == 0 and len(calls) == 4  # back to the first benchmark
    assert calls[-1] == ["psnr_unedit_part", "mse_unedit_part"]  # the saved metrics, not all 8


def csv_parts(printed: str) -> list[pd.DataFrame | str]:
    """``table --format csv`` output split at its blank lines: tables parsed, captions as text."""
    parts: list[pd.DataFrame | str] = []
    for part in printed.strip().split("\n\n"):
        lines = part.strip().splitlines()
        body = "\n".join(line for line in lines if not line.startswith("#"))
        parts.append(pd.read_csv(io.StringIO(body)) if body else lines[0])
    return parts


def test_another_benchmark_is_warned_about_once_per_command(bench, our_run, tmp_path, caplog):
    """A run scored against another benchmark than it was made from is warned about once,
    whether the command scores it or reuses its scores."""
    manifest = json.loads((our_run / "manifest.json").read_text())
    manifest["data"] = {"root": str(bench), "fingerprint": "of another mapping file"}
    (our_run / "manifest.json").write_text(json.dumps(manifest))
    args = networkless(bench, [our_run], tmp_path)
    caplog.set_level(logging.INFO, logger="piebench")
    for command in ("table", "table", "evaluate", "report"):
        caplog.clear()
        extra = [f"out={tmp_path / 'report'}"] if command == "report" else []
        assert main([command, *args, "data.limit=2", *extra]) == 0
        assert caplog.text.count("has another mapping file") == 1, command


def test_table_rows_are_runs_even_of_one_method_and_one_name(
    bench, our_run, tiny_cfg, tmp_path, capsys
):
    """outputs/direct and outputs2/direct: one method, one run name, but two results (the second
    failed one more sample). Each is its own row with its own n and means, per edit type too,
    and each gets its block beside the paper; a legend says which folder is which key."""
    other = tmp_path / "outputs2" / "direct"
    shutil.copytree(our_run, other)
    records = [json.loads(line) for line in (other / "records.jsonl").read_text().splitlines()]
    records[0].update(status="failed", error="NaN latents")
    (other / "records.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    args = overrides(bench, [our_run, other], tiny_cfg)
    assert main(["table", "--format", "csv", "compare=paper", *args]) == 0
    _, table, legend, _, compared = csv_parts(capsys.readouterr().out)
    assert list(table["method"]) == ["direct", "direct"]
    assert list(table["run"]) == ["direct", "direct-2"] and list(table["n"]) == [2, 1]
    saved = pd.read_csv(our_run / "scores_parity.csv", dtype={"id": str}).set_index("id")
    psnr = saved.loc[["000000000000", "111000000000"], "psnr_unedit_part"]
    expected = [psnr.mean(), psnr.iloc[1]]  # 2 decimals shown
    assert list(table["psnr_unedit_part ↑"]) == pytest.approx(expected, abs=0.006)
    assert legend == f"# runs: direct = {our_run}, direct-2 = {other}"
    assert list(compared["run"]) == ["direct"] * 4 + ["direct-2"] * 4
    assert list(compared["kind"]) == ["ours", "paper", "delta", "delta_%"] * 2
    assert main(["table", "--format", "csv", "by=edit_type", *args]) == 0
    per_type = csv_parts(capsys.readouterr().out)[1]
    rows = zip(per_type["run"], per_type["edit_type"], per_type["n"], per_type["failed"])
    assert list(rows) == [  # a type whose samples all failed keeps its row (n = 0)
        ("direct", 0, 1, 0),
        ("direct", 1, 1, 0),
        ("direct", 9, 0, 1),
        ("direct-2", 0, 0, 1),
        ("direct-2", 1, 1, 0),
        ("direct-2", 9, 0, 1),
    ]
    assert list(table["failed"]) == [1, 2]
    nothing = per_type[per_type["n"] == 0]  # blank cells, not "nan (n=nan)"
    assert nothing["psnr_unedit_part ↑"].isna().all() and nothing["total_s ↓"].isna().all()


def test_a_scores_dir_that_cannot_be_made_stops_before_scoring(
    bench, reference_run, tmp_path, capsys, caplog
):
    """A scores_dir under a file (or anywhere it cannot be made) is one line naming it, before
    any sample is scored, not a traceback after all of them."""
    (tmp_path / "marker").write_text("a file")
    args = [*networkless(bench, [reference_run], tmp_path), f"scores_dir={tmp_path / 'marker'}"]
    caplog.set_level(logging.INFO, logger="piebench")
    for command in ("table", "evaluate"):
        assert main([command, *args]) == 1
        err = capsys.readouterr().err
        assert "pass scores_dir=" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    assert "scored " not in caplog.text


def test_leaderboard_names_the_folders_of_renamed_runs(bench, our_run, tmp_path, capsys, caplog):
    """Two runs named ``direct`` become ``direct`` and ``direct-2``: markdown says which folder
    is which under the table; CSV stays rows only and the legend goes to the log."""
    twin = tmp_path / "outputs2" / "direct"
    shutil.copytree(our_run, twin)
    args = networkless(bench, [our_run, twin], tmp_path)
    legend = f"runs: direct = {our_run}, direct-2 = {twin}"
    assert main(["leaderboard", "--format", "markdown", *args]) == 0
    assert capsys.readouterr().out.rstrip().endswith(legend)
    caplog.set_level(logging.INFO, logger="piebench")
    assert main(["leaderboard", *args]) == 0
    rows = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(rows["run"]) == ["direct", "direct-2"] and legend in caplog.text


def test_table_exports_per_image_scores_in_the_reference_csv_layout(
    bench, our_run, reference_run, tiny_cfg, tmp_path, capsys
):
    """``table --format reference out=...``: file_id, then ``<run>|<metric>`` per run in the
    reference's metric order; our run's failed sample has empty cells, an empty unedited
    region (the full mask of 922...) reads ``nan``. The leaderboard has no per-image layout."""
    args = overrides(bench, [our_run, reference_run], tiny_cfg)
    out = tmp_path / "evaluation_result.csv"
    assert main(["table", "--format", "reference", f"out={out}", *args]) == 0
    assert capsys.readouterr().out.strip() == out.read_text().strip()
    table = pd.read_csv(out, dtype={"file_id": str}, keep_default_na=False)
    metrics = [m for m in DEFAULT_METRICS if f"direct|{m}" in table.columns]
    assert metrics == list(DEFAULT_METRICS)
    assert list(table.columns) == [
        "file_id",
        *(f"direct|{m}" for m in metrics),
        *(f"directinversion+p2p|{m}" for m in metrics),
    ]
    rows = table.set_index("file_id")
    assert list(rows.index) == sorted(rows.index) and len(rows) == 3
    scores = evaluate_run(reference_run, data_root=bench, metrics_cfg=tiny_cfg, save=False)
    psnr = scores.set_index("id").loc["111000000000", "psnr_unedit_part"]
    assert float(rows.loc["111000000000", "directinversion+p2p|psnr_unedit_part"]) == psnr
    assert rows.loc["922000000000", "directinversion+p2p|psnr_unedit_part"] == "nan"
    failed = [i for i in rows.index if rows.loc[i, "direct|psnr_unedit_part"] == ""]
    assert len(failed) == 1
    with pytest.raises(SystemExit):
        main(["leaderboard", "--format", "reference", *args])
