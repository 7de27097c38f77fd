"""The FID-CLIP curve: one line per model over the guidance grid, each point labelled with its
guidance weight (the paper's way of comparing a style model with its baseline)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure  # the object API: no pyplot state, no window backend


def fid_clip_figure(table: pd.DataFrame, title: str = "") -> Figure:
    """CLIP score (x) against FID (y) from a table with ``model, guidance, clip_score, fid``."""
    figure = Figure(figsize=(6, 4.5))
    axes = figure.subplots()
    for model, rows in table.sort_values("guidance").groupby("model", sort=False):
        axes.plot(rows["clip_score"], rows["fid"], marker="o", label=str(model))
        for _, row in rows.iterrows():
            axes.annotate(
                f"{row['guidance']:g}",
                (row["clip_score"], row["fid"]),
                textcoords="offset points",
                xytext=(3, 3),
                fontsize=7,
            )
    axes.set_xlabel("CLIP score vs prompt ↑")
    axes.set_ylabel("FID vs style images ↓")
    axes.set_title(title or "FID-CLIP over guidance (labels: guidance weight)")
    axes.legend()
    figure.tight_layout()
    return figure


def save_fid_clip(table: pd.DataFrame, path: Path, title: str = "") -> None:
    figure = fid_clip_figure(table, title)
    tmp = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(tmp, dpi=120)
    tmp.replace(path)
