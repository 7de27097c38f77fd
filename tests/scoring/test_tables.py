"""Aggregates, paper units, NaN handling and compare=paper on small hand-made frames."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest

from piebench.scoring.leaderboard import LEADERBOARD_COLUMNS, leaderboard
from piebench.scoring.tables import (
    aggregate,
    caption,
    compare_paper,
    display,
    load_paper,
    match_paper,
    render,
)


@pytest.fixture()
def frame() -> pd.DataFrame:
    return pd.DataFrame(
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
    markdown = render(shown, "markdown").splitlines()
    assert markdown[0].startswith("| method") and set(markdown[1]) <= {"|", "-"}
    assert len(markdown) == 4
    assert "\\begin{tabular}" in render(shown, "latex")


def test_caption_keeps_csv_and_latex_parseable(frame):
    assert caption("metric profile: parity", "markdown") == "metric profile: parity"
    assert caption("metric profile: parity", "csv") == "# metric profile: parity"
    assert caption("metric profile: parity", "latex") == "% metric profile: parity"
    shown = render(display(aggregate(frame)), "csv")
    parsed = pd.read_csv(io.StringIO(caption("x", "csv") + "\n" + shown), comment="#")
    assert list(parsed["method"]) == ["direct", "my+thing"]
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
