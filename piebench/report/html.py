"""The page itself: static HTML for the header, tables and plots, and the gallery's data as an
embedded JSON blob that ``assets/report.js`` draws (filters, sort, paging).

Tables are the ``table`` command's (``scoring.tables``: ``display(aggregate(...))`` and
``compare_paper``), so the page and the terminal show the same cells. Deltas against the paper
carry a class: ``better`` or ``worse`` by the metric's direction, ``close`` within 1 %.
No file outside the report folder and no network address is referenced.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

import pandas as pd

from piebench.metrics.registry import METRICS
from piebench.report.gallery import higher_is_better
from piebench.report.plots import Plot
from piebench.scoring.tables import label

CLOSE_PERCENT = 1.0
DATA_ID = "report-data"
CellClass = Callable[[int, str], str]


def cell_text(value: Any) -> str:
    """A table cell as ``table`` prints it: floats with 2 decimals, NaN/NA/None empty."""
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return ""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def html_table(
    frame: pd.DataFrame, css: str = "scores", cell_class: CellClass | None = None
) -> str:
    """A ``<table>`` of a frame (headers as given); ``cell_class(row, column)`` adds classes."""
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = []
    for number, row in enumerate(frame.itertuples(index=False)):
        cells = []
        for column, value in zip(frame.columns, row):
            extra = cell_class(number, column) if cell_class else ""
            attr = f' class="{extra}"' if extra else ""
            cells.append(f"<td{attr}>{escape(cell_text(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="table-wrap"><table class="{css}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def delta_class(kind: str, column: str, value: Any, percent: Any) -> str:
    """``better`` / ``worse`` / ``close`` for a metric cell of a ``delta`` or ``delta_%`` row of
    ``compare_paper``; '' for any other cell."""
    if kind not in ("delta", "delta_%") or column not in METRICS or pd.isna(value):
        return ""
    if not pd.isna(percent) and abs(percent) < CLOSE_PERCENT:
        return "close"
    return "better" if (value > 0) == higher_is_better(column) else "worse"


def comparison_table(compared: pd.DataFrame) -> str:
    """``compare_paper``'s rows, headers labelled as ``table`` does, deltas coloured (a
    ``delta`` row is followed by its ``delta_%`` row)."""
    kinds = list(compared["kind"])
    columns = {label(c): c for c in compared.columns}

    def classes(row: int, shown: str) -> str:
        column = columns[shown]
        percent_row = row + 1 if kinds[row] == "delta" else row
        values = compared[column]
        return delta_class(kinds[row], column, values.iloc[row], values.iloc[percent_row])

    return html_table(compared.rename(columns=label), "scores compare", classes)


def embed_json(data: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element (no ``</script>``)."""
    text = json.dumps(data, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def definition_list(items: Sequence[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items) + "</dl>"


def plots_section(plots: Sequence[Plot]) -> str:
    figures = [
        f'<figure><a href="{escape(p.file)}"><img src="{escape(p.file)}" alt="{escape(p.caption)}"'
        f' loading="lazy"></a><figcaption>{escape(p.caption)}</figcaption></figure>'
        for p in plots
    ]
    return '<div class="plots">' + "".join(figures) + "</div>"


def page(
    title: str,
    facts: Sequence[tuple[str, str]],
    sections: Sequence[tuple[str, str, str]],
    data: Any,
) -> str:
    """The whole ``index.html``: header facts, then ``(anchor, heading, html)`` sections, then
    the gallery (drawn by the script from the embedded ``data``)."""
    nav = " · ".join(f'<a href="#{a}">{escape(h)}</a>' for a, h, _ in sections)
    body = "".join(
        f'<section id="{a}"><h2>{escape(h)}</h2>{html}</section>' for a, h, html in sections
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="stylesheet" href="assets/report.css">
</head>
<body>
<header><h1>{escape(title)}</h1>{definition_list(facts)}
<nav>{nav} · <a href="#gallery">Gallery</a></nav></header>
<main>
{body}
<section id="gallery"><h2>Gallery</h2>
<div id="controls"></div>
<div id="pager-top" class="pager"></div>
<div id="rows"></div>
<div id="pager-bottom" class="pager"></div>
<noscript>The gallery needs JavaScript (the tables and plots above do not).</noscript>
</section>
</main>
<div id="script-error" hidden></div>
<script type="application/json" id="{DATA_ID}">{embed_json(data)}</script>
<script src="assets/report.js"></script>
</body>
</html>
"""
