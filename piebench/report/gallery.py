"""The gallery as data: one row per sample, one cell per run, and every sort order precomputed.

The page embeds this as JSON; its script only filters, pages and draws. Sorting is decided
here, where it is tested: for each run and value column, ``orders[run][column]`` lists the row
indices worst first — samples the run failed, could not score or never reached come first,
then rows whose value is undefined (NaN, e.g. an empty region), then values from worst to best
by the metric's direction (the page reverses the list for best first). Ties go by id.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from piebench.data.pie_bench import EDIT_TYPES
from piebench.metrics.registry import METRICS, scale_of
from piebench.report.gather import ReportInputs, invalid_error
from piebench.report.images import Gallery
from piebench.scoring.tables import label

MISSING = "missing"  # the run has no record of the sample
CELL_HIDDEN = ("inversion_s", "edit_s", "peak_mem_mb")  # in a gallery cell only when sorted by
_MARK = re.compile(r"(\[[^\[\]]*\])")
SHORT_NAMES: dict[str, str] = {
    "structure_distance": "structure",
    "psnr_unedit_part": "PSNR",
    "lpips_unedit_part": "LPIPS",
    "mse_unedit_part": "MSE",
    "ssim_unedit_part": "SSIM",
    "clip_similarity_source_image": "CLIP src",
    "clip_similarity_target_image": "CLIP whole",
    "clip_similarity_target_image_edit_part": "CLIP edited",
    "inversion_s": "inversion s",
    "edit_s": "edit s",
    "total_s": "s/image",
    "peak_mem_mb": "peak MB",
}


def marked_segments(prompt: str) -> list[tuple[str, bool]]:
    """A PIE-Bench prompt split into ``(text, edited)`` pieces: the ``[bracketed]`` words are the
    edited ones (brackets dropped); an unmatched bracket stays as plain text."""
    pieces = []
    for part in _MARK.split(prompt):
        if _MARK.fullmatch(part):
            pieces.append((part[1:-1], True))
        elif part:
            pieces.append((part, False))
    return pieces


def higher_is_better(column: str) -> bool:
    """The metric's direction; timings and memory are better low."""
    return column in METRICS and METRICS.get(column).higher_is_better


def column_info(column: str) -> dict[str, Any]:
    """How the page names, scales and orders a value column."""
    return {
        "name": column,
        "label": label(column),
        "short": SHORT_NAMES.get(column, column),
        "scale": scale_of(column),
        "higher_is_better": higher_is_better(column),
        "in_cell": column not in CELL_HIDDEN,
    }


def _number(value: Any) -> float | None:
    """A JSON-safe number: NaN and missing become None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def gallery_rows(inputs: ReportInputs, pictures: Gallery) -> list[dict[str, Any]]:
    """One JSON-ready row per sample id (in ``inputs.ids`` order)."""
    rows = []
    for sample_id in inputs.ids:
        sample = inputs.samples.get(sample_id)
        cells: dict[str, dict[str, Any]] = {}
        edit_type = sample.edit_type if sample else None
        for run in inputs.runs:
            if sample_id not in run.scores.index:
                cells[run.key] = {"status": MISSING, "error": None, "scores": {}, "image": None}
                continue
            scored = run.scores.loc[sample_id]
            if edit_type is None and _number(scored["edit_type"]) is not None:
                edit_type = int(scored["edit_type"])
            cells[run.key] = {
                "status": str(scored["status"]),
                "error": _text(scored["error"]),
                "scores": {c: _number(scored.get(c)) for c in inputs.columns},
                "image": pictures.links.get(run.key, {}).get(sample_id),
            }
        rows.append(
            {
                "id": sample_id,
                "edit_type": edit_type,
                "edit_type_name": EDIT_TYPES.get(edit_type) if edit_type is not None else None,
                "source_prompt": marked_segments(sample.original_prompt) if sample else [],
                "target_prompt": marked_segments(sample.editing_prompt) if sample else [],
                "instruction": sample.editing_instruction if sample else "",
                "note": invalid_error(inputs, sample_id),
                "source": pictures.links.get("source", {}).get(sample_id),
                "mask": pictures.links.get("mask", {}).get(sample_id),
                "cells": cells,
            }
        )
    return rows


def worst_first(rows: list[Mapping[str, Any]], run_key: str, column: str) -> list[int]:
    """Row indices ordered worst first for one run's column (see the module docstring)."""
    sign = 1.0 if higher_is_better(column) else -1.0

    def key(index: int) -> tuple[int, float, str]:
        cell = rows[index]["cells"][run_key]
        if cell["status"] != "ok":
            return (0, 0.0, rows[index]["id"])
        value = cell["scores"].get(column)
        if value is None:
            return (1, 0.0, rows[index]["id"])
        return (2, sign * value, rows[index]["id"])

    return sorted(range(len(rows)), key=key)


def gallery_data(inputs: ReportInputs, pictures: Gallery, page_size: int) -> dict[str, Any]:
    """The JSON blob the page's script reads: runs, columns, edit types, rows and sort orders."""
    rows = gallery_rows(inputs, pictures)
    return {
        "runs": [
            {"key": run.key, "name": run.folder.run_name, "method": run.folder.method}
            for run in inputs.runs
        ],
        "columns": [column_info(c) for c in inputs.columns],
        "edit_types": {str(k): v for k, v in EDIT_TYPES.items()},
        "page_size": page_size,
        "rows": rows,
        "orders": {
            run.key: {column: worst_first(rows, run.key, column) for column in inputs.columns}
            for run in inputs.runs
        },
    }
