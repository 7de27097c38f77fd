"""The leaderboard CSV: one row per scored run, stable column names (documented in README).

Columns: ``method, run, model, metric_mode, metric_profile, n_images, n_scored,
harness_version`` (the profile names the library-era settings, e.g. ``parity`` = the published
tables' evaluation, ``parity_current`` = the same evaluator under current libraries), then the
headline metrics in paper units with the unit in the name (``structure_distance_x1e3,
psnr_unedit_part, lpips_unedit_part_x1e3, mse_unedit_part_x1e4, ssim_unedit_part_x1e2,
clip_similarity_target_image, clip_similarity_target_image_edit_part``) and ``total_s_mean``
(mean wall-clock seconds per image; empty for reference folders).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from piebench.metrics.registry import scale_of
from piebench.scoring.tables import HEADLINE, run_keys

LEADERBOARD_COLUMNS: tuple[str, ...] = (
    "method",
    "run",
    "model",
    "metric_mode",
    "metric_profile",
    "n_images",
    "n_scored",
    "harness_version",
    *(c if scale_of(c) == 1 else f"{c}_x1e{round(math.log10(scale_of(c)))}" for c in HEADLINE),
    "total_s_mean",
)


def leaderboard_row(frame: pd.DataFrame, meta: Mapping[str, Any]) -> dict[str, Any]:
    """One run's row from its per-sample scores and their JSON sidecar."""
    ok = frame[frame["status"] == "ok"]
    row: dict[str, Any] = {
        "method": meta.get("method", frame["method"].iloc[0] if len(frame) else ""),
        "run": meta.get("run", frame["run"].iloc[0] if len(frame) else ""),
        "model": meta.get("model", "unknown"),
        "metric_mode": meta.get("metric_mode"),
        "metric_profile": meta.get("metric_profile"),
        "n_images": len(frame),
        "n_scored": len(ok),
        "harness_version": meta.get("harness_version"),
        "total_s_mean": ok["total_s"].mean() if "total_s" in ok else float("nan"),
    }
    for column, name in zip(HEADLINE, LEADERBOARD_COLUMNS[-1 - len(HEADLINE) : -1]):
        row[name] = ok[column].mean() * scale_of(column) if column in ok else float("nan")
    return row


def leaderboard(scored: list[tuple[pd.DataFrame, Mapping[str, Any]]]) -> pd.DataFrame:
    """The leaderboard frame for several runs, columns in ``LEADERBOARD_COLUMNS`` order; ``run``
    holds each run's key (``run_keys``: a name given twice becomes ``direct``, ``direct-2``), as
    the tables and the report name runs."""
    board = pd.DataFrame(
        [leaderboard_row(f, m) for f, m in scored], columns=list(LEADERBOARD_COLUMNS)
    )
    board["run"] = run_keys([str(name) for name in board["run"]])
    return board
