"""``python -m piebench report runs=[...] data.root=... out=report/``: write the report folder.

Config: ``conf/report.yaml`` (the ``evaluate`` command's ``data`` and ``metrics`` groups plus
``out``, ``compare``, ``rescore``, ``thumb_size``, ``page_size``), composed from ``key=value``
overrides like the other scoring commands. The flow: gather the runs' scores (scoring where
none are saved), make or reuse the pictures, draw the plots, write ``index.html`` last.
"""

from __future__ import annotations

import html
import logging
import sys
from importlib import resources
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from piebench.atomic_files import write_text_atomic
from piebench.cli_errors import user_message
from piebench.conf_help import config_help
from piebench.config_schema import ConfigError
from piebench.data.pie_bench import EDIT_TYPES
from piebench.report.gallery import gallery_data
from piebench.report.gather import ReportInputs, gather
from piebench.report.html import comparison_table, html_table, page, plots_section
from piebench.report.images import build_gallery
from piebench.report.plots import metric_plots, timing_plot
from piebench.report.summary import header_facts, run_rows
from piebench.scoring.cli import USER_ERRORS, load_config
from piebench.scoring.tables import (
    RUN_ROWS,
    aggregate,
    compare_paper,
    display,
    load_paper,
    unmatched_note,
)

logger = logging.getLogger(__name__)

ASSETS = ("report.css", "report.js")
USAGE = (
    "usage: python -m piebench report runs=[DIR,...] [data.root=DIR] [out=DIR] [key=value ...]\n\n"
)


def positive_int(cfg: DictConfig, key: str) -> int:
    """``cfg[key]`` as an integer >= 1, else a ``ConfigError`` naming the key."""
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a positive integer, got {value!r}")
    return value


def method_sections(inputs: ReportInputs, compare: str | None) -> list[tuple[str, str, str]]:
    """The ``table`` command's tables: per run (with the paper beside it) and per run and edit
    type."""
    caption = f"<p class=caption>PIE-Bench scores, {inputs.profile.header()}</p>"
    per_method = caption + html_table(display(aggregate(inputs.frame)))
    if compare == "paper":
        per_run, paper = aggregate(inputs.frame), load_paper()
        compared = compare_paper(per_run, paper)
        if not compared.empty:
            per_method += "<h3>Ours vs published Table 1 (paper units)</h3>"
            per_method += comparison_table(compared)
        note = unmatched_note(per_run, paper)
        if note:
            per_method += f"<p class=caption>{html.escape(note)}</p>"
    per_type = display(aggregate(inputs.frame, by=[*RUN_ROWS, "edit_type"]))
    names = [EDIT_TYPES.get(int(t), "") if not pd.isna(t) else "" for t in per_type["edit_type"]]
    per_type.insert(per_type.columns.get_loc("edit_type") + 1, "edit_type_name", names)
    return [
        ("methods", "Scores per method", per_method),
        ("edit-types", "Scores per edit type", caption + html_table(per_type)),
    ]


def copy_assets(out: Path) -> None:
    """The page's stylesheet and script (``piebench/report/assets/``) into ``out/assets/``."""
    folder = resources.files("piebench.report") / "assets"
    for name in ASSETS:
        write_text_atomic((folder / name).read_text(encoding="utf-8"), out / "assets" / name)


def build_report(cfg: DictConfig) -> Path:
    """Write the report folder of ``cfg`` and return its ``index.html``."""
    thumb_size, page_size = positive_int(cfg, "thumb_size"), positive_int(cfg, "page_size")
    if not cfg.runs:
        raise ConfigError("no run folders given: pass runs=[outputs/direct,...]")
    if cfg.compare not in (None, "paper"):
        raise ConfigError(f"unknown compare={cfg.compare!r}; valid: paper or null")
    out = Path(str(cfg.out)).expanduser()
    try:  # before any scoring or picture: an unusable out= fails once, not once per sample
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic("", out / ".write-test")
        (out / ".write-test").unlink()
    except OSError as err:
        raise ConfigError(f"out={cfg.out}: cannot write there ({err.strerror or err})") from None
    inputs = gather(cfg)
    sections = method_sections(inputs, cfg.compare)
    pictures = build_gallery(inputs, out, thumb_size, bool(cfg.data.get("mask_border", True)))
    plots = metric_plots(inputs.frame, inputs.columns, out / "plots")
    timing = timing_plot(inputs.frame, out / "plots")
    sections = [
        ("runs", "Runs", html_table(pd.DataFrame(run_rows(inputs)), "runs")),
        *sections,
        ("plots", "Plots", plots_section([*plots, *([timing] if timing else [])])),
    ]
    copy_assets(out)
    index = out / "index.html"
    data = gallery_data(inputs, pictures, page_size)
    write_text_atomic(page("PIE-Bench report", header_facts(inputs), sections, data), index)
    return index


def report_main(argv: list[str]) -> int:
    """Write the report; one line on stderr and exit 1 for a named input problem."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if {"-h", "--help"} & set(argv):
        print(USAGE + config_help("report"))
        return 0
    try:
        index = build_report(load_config(argv, "report"))
    except USER_ERRORS as err:
        print(f"piebench report: {user_message(err)}", file=sys.stderr)
        return 1
    print(f"wrote {index} (open it in a browser; no server needed)")
    return 0
