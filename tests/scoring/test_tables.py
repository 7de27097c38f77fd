"""Aggregates, paper units, NaN handling and compare=paper on small hand-made frames."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest

from piebench.scoring.leaderboard import LEADERBOARD_COLUMNS, leaderboard
from piebench.scoring.tables import (
    RUN_ROWS,
    aggregate,
    caption,
    compare_paper,
    display,
    label,
    load_paper,
    match_paper,
    render,
    run_keys,
    run_legend,
    stack_runs,
    unmatched_note,
    with_set_scores,
)


@pytest.fixture()
def frame() -> pd.DataFrame:
    """Two runs (``a``: direct, ``b``: my+thing), stacked as the table command stacks them."""
    samples = pd.DataFrame(
        {
            "run": ["a"] * 4 + ["b"] * 2,
            "method": ["direct"] * 4 + ["my+thing"] * 2,
            "id": list("123456"),
            "edit_type": [0, 0, 1, 1, 0, 1],
            "status": ["ok", "ok", "ok", "failed", "ok", "ok"],
            "structure_distance": [0.010, 0.012, 0.014, math.nan, 0.05, 0.07],
            "psnr_unedit_part": [20.0, math.nan, 30.0, math.nan, 10.0, 12.0],
            "mse_unedit_part": [0.002, math.nan, 0.004, math.nan, 0.01, 0.03],
            "total_s": [1.0, 2.0, 3.0, 100.0, 5.0, 7.0],
        }
    )
    return stack_runs([samples[:4], samples[4:]], ["a", "b"])


def test_aggregate_scales_to_paper_units_and_excludes_nans(frame):
    table = aggregate(frame).set_index("method")
    direct = table.loc["direct"]
    assert direct["n"] == 3  # the failed sample is not scored
    assert direct["structure_distance"] == pytest.approx(12.0)  # mean 0.012 x 10^3
    assert direct["psnr_unedit_part"] == pytest.approx(25.0)  # NaN excluded
    assert direct["psnr_unedit_part__count"] == 2
    assert direct["mse_unedit_part"] == pytest.approx(30.0)  # mean 0.003 x 10^4
    assert direct["total_s"] == pytest.approx(2.0)


def test_aggregate_per_edit_type(frame):
    table = aggregate(frame, by=["method", "edit_type"]).set_index(["method", "edit_type"])
    assert table.loc[("direct", 0), "n"] == 2 and table.loc[("direct", 1), "n"] == 1
    assert table.loc[("my+thing", 1), "psnr_unedit_part"] == pytest.approx(12.0)


def test_display_marks_units_directions_and_counts(frame):
    shown = display(aggregate(frame))
    assert "structure_distance ×10³ ↓" in shown.columns and "psnr_unedit_part ↑" in shown.columns
    assert "mse_unedit_part ×10⁴ ↓" in shown.columns
    assert shown.loc[0, "psnr_unedit_part ↑"] == "25.00 (n=2)"
    assert shown.loc[0, "structure_distance ×10³ ↓"] == "12.00"
    assert list(shown.columns[:3]) == ["method", "run", "n"]
    markdown = render(shown, "markdown").splitlines()
    assert markdown[0].split()[:4] == ["|", "method", "|", "run"] and set(markdown[1]) <= {"|", "-"}
    assert len(markdown) == 4
    latex = render(shown, "latex")
    assert "\\begin{tabular}" in latex and not set(latex) - set(map(chr, range(128)))
    assert r"structure\_distance $\times$10$^{3}$ $\downarrow$" in latex
    numbers = pd.DataFrame({"run": ["a", "b"], "total_s_mean": [1.23456, float("nan")]})
    rows = render(numbers, "latex").splitlines()
    assert "a & 1.23 \\\\" in rows and "b &  \\\\" in rows


def test_caption_keeps_csv_and_latex_parseable(frame):
    assert caption("metric profile: parity", "markdown") == "metric profile: parity"
    assert caption("metric profile: parity", "csv") == "# metric profile: parity"
    assert caption("metric profile: parity", "latex") == "% metric profile: parity"
    shown = render(display(aggregate(frame)), "csv")
    parsed = pd.read_csv(io.StringIO(caption("x", "csv") + "\n" + shown), comment="#")
    assert list(parsed["method"]) == ["direct", "my+thing"] and list(parsed["run"]) == ["a", "b"]
    with pytest.raises(ValueError, match="valid formats"):
        caption("x", "html")


def test_aggregate_keeps_profiles_apart(frame):
    both = pd.concat([frame.assign(profile="parity"), frame.assign(profile="parity_current")])
    table = aggregate(both)
    assert list(zip(table["method"], table["profile"])) == [
        ("direct", "parity"),
        ("my+thing", "parity"),
        ("direct", "parity_current"),
        ("my+thing", "parity_current"),
    ]


def test_compare_paper_deltas():
    paper = load_paper()
    ours = pd.DataFrame(
        {
            "method": ["ddim", "unknown"],
            "psnr_unedit_part": [18.87, 1.0],
            "structure_distance": [69.43, 1.0],
        }
    )
    compared = compare_paper(ours, paper).set_index("kind")
    assert list(compared.index) == ["ours", "paper", "delta", "delta_%"]
    assert compared.loc["paper", "psnr_unedit_part"] == 17.87
    assert compared.loc["delta", "psnr_unedit_part"] == pytest.approx(1.0)
    assert compared.loc["delta_%", "psnr_unedit_part"] == pytest.approx(100 / 17.87)
    assert compared.loc["delta", "structure_distance"] == pytest.approx(0.0)


def test_paper_table_is_table_one():
    paper = load_paper()
    assert len(paper) == 11
    direct = match_paper("directinversion+p2p", paper)
    assert direct["key"] == "direct+p2p" and direct["lpips_unedit_part"] == 54.55
    assert match_paper("Direct", paper)["key"] == "direct+p2p"
    assert match_paper("pnp", paper) is None


def test_leaderboard_columns_and_values(frame):
    runs = [
        (
            g,
            {
                "metric_mode": "parity",
                "metric_profile": "parity_current",
                "harness_version": "0.1.0",
                "model": "m",
            },
        )
        for _, g in frame.groupby("run")
    ]
    board = leaderboard(runs)
    assert tuple(board.columns) == LEADERBOARD_COLUMNS
    first = board.iloc[0]
    assert first["metric_profile"] == "parity_current"
    assert first["n_images"] == 4 and first["n_scored"] == 3
    assert first["structure_distance_x1e3"] == pytest.approx(12.0)
    assert first["mse_unedit_part_x1e4"] == pytest.approx(30.0)
    assert first["total_s_mean"] == pytest.approx(2.0)


def test_methods_that_read_the_mask_are_marked(frame):
    frame = frame.assign(method=["bld"] * 4 + ["direct"] * 2)
    shown = display(aggregate(frame))
    assert set(shown["method"]) == {"bld (mask input)", "direct"}


def ddim_runs(first: str = "base", second: str = "ddim_g2") -> pd.DataFrame:
    """Two runs of one method (e.g. two guidance scales): ``first`` scores 3 samples (PSNR 20,
    one per edit type 0, 0, 1), ``second`` 2 samples (PSNR 30 and 32, edit types 0 and 1)."""
    first_run = pd.DataFrame(
        {
            "run": [first] * 3,
            "method": ["ddim"] * 3,
            "edit_type": [0, 0, 1],
            "status": ["ok"] * 3,
            "psnr_unedit_part": [20.0, 20.0, 20.0],
            "structure_distance": [0.070, 0.070, 0.070],
        }
    )
    second_run = pd.DataFrame(
        {
            "run": [second] * 2,
            "method": ["ddim"] * 2,
            "edit_type": [0, 1],
            "status": ["ok"] * 2,
            "psnr_unedit_part": [30.0, 32.0],
            "structure_distance": [0.050, 0.060],
        }
    )
    return stack_runs([first_run, second_run], [first, second])


def test_two_runs_of_one_method_are_two_rows():
    """A guidance sweep of ddim: each run its own row, n and means (not one mean of both)."""
    table = aggregate(ddim_runs())
    assert list(table["method"]) == ["ddim", "ddim"]
    assert list(table["run_key"]) == ["base", "ddim_g2"]
    assert list(table["n"]) == [3, 2]
    assert list(table["psnr_unedit_part"]) == pytest.approx([20.0, 31.0])
    assert list(table["structure_distance"]) == pytest.approx([70.0, 55.0])
    shown = display(table)
    assert list(shown["run"]) == ["base", "ddim_g2"] and list(shown["method"]) == ["ddim"] * 2


def test_two_runs_of_one_method_per_edit_type():
    table = aggregate(ddim_runs(), by=[*RUN_ROWS, "edit_type"])
    rows = table.set_index(["run_key", "edit_type"])
    assert len(rows) == 4
    assert (rows.loc[("base", 0), "n"], rows.loc[("base", 1), "n"]) == (2, 1)
    assert (rows.loc[("ddim_g2", 0), "n"], rows.loc[("ddim_g2", 1), "n"]) == (1, 1)
    assert rows.loc[("ddim_g2", 1), "psnr_unedit_part"] == pytest.approx(32.0)
    assert rows.loc[("base", 1), "psnr_unedit_part"] == pytest.approx(20.0)


def test_runs_of_one_name_from_two_folders_stay_apart():
    """outputs1/direct and outputs2/direct: one run name, two results; the keys tell them apart
    and the legend says which folder each key is."""
    stacked = ddim_runs("direct", "direct")
    table = aggregate(stacked)
    assert list(table["run_key"]) == ["direct", "direct-2"] and list(table["n"]) == [3, 2]
    assert run_legend(["direct", "direct"], ["outputs1/direct", "outputs2/direct"]) == (
        "runs: direct = outputs1/direct, direct-2 = outputs2/direct"
    )
    assert run_legend(["base", "ddim_g2"], ["out/base", "out/ddim_g2"]) is None
    assert run_keys(["direct", "a/b c", "direct"]) == ["direct", "a_b_c", "direct-2"]
    # the report's own picture folders are never a run's key
    assert run_keys(["source", "mask", "source"]) == ["source-2", "mask-2", "source-3"]


def test_leaderboard_names_a_run_name_given_twice_apart(frame):
    one = frame[frame["run"] == frame["run"].iloc[0]]
    meta = {"run": "direct", "method": "direct"}
    assert list(leaderboard([(one, meta), (one, meta)])["run"]) == ["direct", "direct-2"]


def test_compare_paper_has_a_block_per_run_of_a_method():
    compared = compare_paper(aggregate(ddim_runs()), load_paper())
    assert list(compared.columns[:6]) == ["method", "run_key", "paper_row", "kind", "n", "failed"]
    assert compared["n"].isna().tolist() == [False, True, True, True] * 2  # ours only
    counts = aggregate(ddim_runs())[["n", "failed"]].to_numpy().tolist()
    ours = compared[compared["kind"] == "ours"][["n", "failed"]].to_numpy().tolist()
    assert ours == counts
    assert list(compared["run_key"]) == ["base"] * 4 + ["ddim_g2"] * 4
    assert list(compared["kind"]) == ["ours", "paper", "delta", "delta_%"] * 2
    assert set(compared["paper_row"]) == {"ddim+p2p"}
    ours = compared[compared["kind"] == "ours"].set_index("run_key")["psnr_unedit_part"]
    assert list(ours) == pytest.approx([20.0, 31.0])
    deltas = compared[compared["kind"] == "delta"]["psnr_unedit_part"]
    assert list(deltas) == pytest.approx([20.0 - 17.87, 31.0 - 17.87])
    assert "run" in compared.rename(columns=label).columns


def set_rows(fids: dict[str, float]) -> pd.DataFrame:
    """One run's ``set_scores.csv`` rows: FID per group (KID left at 0)."""
    return pd.DataFrame({"group": list(fids), "fid": list(fids.values()), "kid_mean": 0.0})


def test_set_scores_go_to_their_own_run():
    sets = stack_runs(
        [set_rows({"all": 10.0, "edit_type=1": 11.0}), set_rows({"all": 20.0})],
        ["direct", "direct"],
    ).assign(kid_std=0.0)
    per_run = with_set_scores(aggregate(ddim_runs("direct", "direct")), sets)
    assert list(per_run["fid"]) == [10.0, 20.0]
    per_type = with_set_scores(
        aggregate(ddim_runs("direct", "direct"), by=[*RUN_ROWS, "edit_type"]), sets
    ).set_index(["run_key", "edit_type"])
    assert per_type.loc[("direct", 1), "fid"] == 11.0
    assert math.isnan(per_type.loc[("direct-2", 1), "fid"])


def test_runs_without_a_published_row_are_named_under_the_comparison():
    runs = ddim_runs()
    runs.loc[runs["run"] == "ddim_g2", "method"] = "my_method"
    per_run, paper = aggregate(runs), load_paper()
    assert list(compare_paper(per_run, paper)["run_key"].unique()) == ["base"]
    assert unmatched_note(per_run, paper) == (
        "(not in the published Table 1, so not compared: ddim_g2)"
    )
    assert unmatched_note(per_run[per_run["method"] == "ddim"], paper) is None
    only_mine = per_run[per_run["method"] == "my_method"]
    assert unmatched_note(only_mine, paper) == "(no run matches a row of the published Table 1)"
