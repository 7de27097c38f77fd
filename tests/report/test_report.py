"""``python -m piebench report`` on two tiny-model runs: files, rows, numbers, order, filters."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from piebench.__main__ import main
from piebench.data.pie_bench import SAMPLE_ROOT, load_benchmark
from piebench.metrics.registry import METRICS
from piebench.report.gallery import marked_segments
from piebench.report.html import embed_json
from tests.report.conftest import FAILED_ID, PAGE_SIZE
from tests.report.page import read_page, table_text
from tests.scoring.test_cli import overrides

REPORT_JS = Path(__file__).resolve().parents[2] / "piebench" / "report" / "assets" / "report.js"


def csv_rows(run_dir: Path) -> dict[str, dict[str, str]]:
    with (run_dir / "scores_parity.csv").open(newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def test_every_sample_and_run_appears_failures_and_gaps_marked(tiny_runs, report_dir):
    data = read_page(report_dir).data
    bundled = [s.id for s in load_benchmark(SAMPLE_ROOT).samples]
    assert [row["id"] for row in data["rows"]] == bundled
    assert [run["key"] for run in data["runs"]] == ["direct", "ddim"]
    ddim_ids = set(csv_rows(tiny_runs.ddim))
    assert len(ddim_ids) == 8
    for row in data["rows"]:
        assert row["cells"]["direct"]["status"] == "ok" and row["cells"]["direct"]["image"]
        ddim = row["cells"]["ddim"]
        if row["id"] not in ddim_ids:
            assert ddim["status"] == "missing" and ddim["image"] is None
        elif row["id"] == FAILED_ID:
            assert ddim["status"] == "failed" and "NaN latents" in ddim["error"]
            metrics = [v for k, v in ddim["scores"].items() if k in METRICS]
            assert ddim["image"] is None and metrics and all(v is None for v in metrics)
        else:
            assert ddim["status"] == "ok" and ddim["image"]
        assert row["source"] and row["mask"]
        assert any(edited for _, edited in row["source_prompt"])
    runs = table_text(read_page(report_dir).tables["runs"][0])
    header = runs[0]
    ddim_row = dict(zip(header, runs[2]))
    assert (ddim_row["ok"], ddim_row["failed"], ddim_row["missing"]) == ("7", "1", "2")


def test_every_linked_file_exists_inside_the_folder(report_dir):
    page = read_page(report_dir)
    links = list(page.links)
    for row in page.data["rows"]:
        pictures = [row["source"], row["mask"], *(c["image"] for c in row["cells"].values())]
        links += [link[kind] for link in pictures if link for kind in ("thumb", "full")]
    assert len(links) > 60
    for link in links:
        parts = urlsplit(link)
        if not parts.path:  # an in-page anchor
            assert link.startswith("#")
            continue
        assert not parts.scheme and not parts.netloc and not link.startswith("/"), link
        target = (report_dir / unquote(parts.path)).resolve()
        assert target.is_file(), link
        assert report_dir.resolve() in target.parents, link
    for text in (report_dir / "index.html", report_dir / "assets" / "report.js"):
        assert "http://" not in text.read_text() and "https://" not in text.read_text()


def test_gallery_numbers_equal_the_scores_csv(tiny_runs, report_dir):
    data = read_page(report_dir).data
    compared = 0
    for run_key, run_dir in (("direct", tiny_runs.direct), ("ddim", tiny_runs.ddim)):
        saved = csv_rows(run_dir)
        for row in data["rows"]:
            if row["id"] not in saved:
                continue
            cell, expected = row["cells"][run_key], saved[row["id"]]
            assert cell["status"] == expected["status"]
            for column, value in cell["scores"].items():
                text = expected[column]
                if text == "" or math.isnan(float(text)):
                    assert value is None, (row["id"], column)
                else:
                    assert value == pytest.approx(float(text), rel=1e-12, abs=0), (
                        row["id"],
                        column,
                    )
                    compared += 1
    assert compared > 100


def table_csv(capsys, tiny_runs, *extra: str) -> list[list[str]]:
    args = tiny_runs.report_args(Path("unused"))[:-1]
    assert main(["table", "--format", "csv", *args, *extra]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    return [row for row in csv.reader(io.StringIO("\n".join(lines))) if row]


def test_tables_are_the_table_commands(tiny_runs, report_dir, capsys):
    page = read_page(report_dir)
    per_method, compare = page.tables["methods"]
    printed = table_csv(capsys, tiny_runs, "compare=paper")
    assert table_text(per_method) == printed[: len(per_method)]
    shown_compare = table_text(compare)
    assert shown_compare[0] == printed[len(per_method)]
    for shown, row in zip(shown_compare[1:], printed[len(per_method) + 1 :]):
        assert [float(s) if s else s for s in shown[5:]] == pytest.approx(
            [float(r) if r else r for r in row[5:]], abs=0.006
        )
    per_type = table_text(page.tables["edit-types"][0])
    name_at = per_type[0].index("edit_type_name")
    without_names = [row[:name_at] + row[name_at + 1 :] for row in per_type]
    assert without_names == table_csv(capsys, tiny_runs, "by=edit_type")


def test_paper_deltas_are_coloured_by_direction(report_dir):
    rows = read_page(report_dir).tables["methods"][1]
    header = [cell.text for cell in rows[0]]
    psnr, lpips = header.index("psnr_unedit_part ↑"), header.index("lpips_unedit_part ×10³ ↓")
    coloured = 0
    for row in rows[1:]:
        if row[header.index("kind")].text not in ("delta", "delta_%"):
            assert all(cell.classes == "" for cell in row)
            continue
        for column, higher_better in ((psnr, True), (lpips, False)):
            delta = float(row[column].text)
            expected = "better" if (delta > 0) == higher_better else "worse"
            assert row[column].classes in (expected, "close")
            coloured += 1
    assert coloured == 8


def test_sort_orders_put_failures_first_then_worst(report_dir):
    data = read_page(report_dir).data
    rows, columns = data["rows"], {c["name"]: c for c in data["columns"]}
    assert {"psnr_unedit_part", "total_s"} <= columns.keys()
    for run_key, orders in data["orders"].items():
        for name, order in orders.items():
            assert sorted(order) == list(range(len(rows)))
            cells = [rows[i]["cells"][run_key] for i in order]
            ranks = [
                0 if c["status"] != "ok" else 1 if c["scores"][name] is None else 2 for c in cells
            ]
            assert ranks == sorted(ranks), (run_key, name)
            values = [c["scores"][name] for c, rank in zip(cells, ranks) if rank == 2]
            sign = 1 if columns[name]["higher_is_better"] else -1
            assert [sign * v for v in values] == sorted(sign * v for v in values), (run_key, name)
    ddim_psnr = [rows[i]["id"] for i in data["orders"]["ddim"]["psnr_unedit_part"]]
    assert FAILED_ID in ddim_psnr[:3] and not columns["lpips_unedit_part"]["higher_is_better"]


NODE_CHECK = """
const api = require(process.argv[1]);
const data = JSON.parse(require("fs").readFileSync(0, "utf8"));
const ids = (state) => api.selectRows(data, state).map((i) => data.rows[i].id);
const state = (hash) => api.parseState(hash, data);
const out = {
  all: ids(state("")),
  type8: ids(state("#type=8")),
  problems: ids(state("#status=problems")),
  problemsDirectOnly: ids(state("#status=problems&runs=direct")),
  complete: ids(state("#status=complete")),
  psnrWorst: ids(state("#sort=psnr_unedit_part&by=ddim&dir=worst")),
  psnrBest: ids(state("#sort=psnr_unedit_part&by=ddim&dir=best")),
  pages: api.pageOf(api.selectRows(data, state("")), 99, data.page_size),
  roundTrip: api.formatState(state("#type=3&sort=total_s&by=ddim&dir=best&runs=ddim&page=2")),
  junk: api.formatState(state("#type=42&sort=nope&by=zzz&page=-1")),
};
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node (to run the page's script) absent")
def test_page_script_filters_sorts_and_pages(report_dir):
    data = read_page(report_dir).data
    result = subprocess.run(
        ["node", "-e", NODE_CHECK, str(REPORT_JS)],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    rows = {row["id"]: row for row in data["rows"]}
    assert got["all"] == [row["id"] for row in data["rows"]]
    assert got["type8"] and all(rows[i]["edit_type"] == 8 for i in got["type8"])
    assert len(got["type8"]) == sum(row["edit_type"] == 8 for row in data["rows"])
    not_ok = {i for i, row in rows.items() if row["cells"]["ddim"]["status"] != "ok"}
    assert set(got["problems"]) == not_ok and len(not_ok) == 3
    assert got["problemsDirectOnly"] == []
    assert set(got["complete"]) == set(rows) - not_ok
    order = [data["rows"][i]["id"] for i in data["orders"]["ddim"]["psnr_unedit_part"]]
    assert got["psnrWorst"] == order and got["psnrBest"] == order[::-1]
    assert got["pages"]["pages"] == math.ceil(len(rows) / PAGE_SIZE) == 4
    assert got["pages"]["page"] == 4 and len(got["pages"]["rows"]) == len(rows) - 3 * PAGE_SIZE
    assert got["roundTrip"] == "#type=3&status=all&sort=total_s&by=ddim&dir=best&runs=ddim&page=2"
    assert (
        got["junk"] == "#type=all&status=all&sort=id&by=direct&dir=worst&runs=direct%2Cddim&page=1"
    )


def test_thumbnails_are_reused_until_their_source_changes(tiny_runs, tmp_path):
    out = tmp_path / "report"
    assert main(["report", *tiny_runs.report_args(out)]) == 0
    thumbs = {p: p.stat().st_mtime_ns for p in (out / "thumbs").rglob("*.jpg")}
    assert len(thumbs) == 10 + 10 + 10 + 7  # source, mask, direct, ddim (ok ones)
    edited = tiny_runs.direct / "annotation_images" / "0_random" / "000000000000.jpg"
    later = time.time() + 60  # as if the run rewrote it after the first report
    os.utime(edited, (later, later))
    assert main(["report", *tiny_runs.report_args(out)]) == 0
    changed = [p for p, t in thumbs.items() if p.stat().st_mtime_ns != t]
    assert changed == [out / "thumbs" / "256" / "direct" / "000000000000.jpg"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("thumb_size=0", "thumb_size must be a positive integer"),
        ("out=/proc/piebench-report", "out=/proc/piebench-report: cannot write there"),
        ("compare=table2", "unknown compare='table2'"),
        ("runs=[]", "no run folders given"),
        ("thumbsize=3", "unknown config key 'thumbsize' (did you mean 'thumb_size'?)"),
    ],
)
def test_bad_config_is_one_named_line(tiny_runs, tmp_path, capsys, override, message):
    assert main(["report", *tiny_runs.report_args(tmp_path / "r"), override]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("piebench report: ") and message in err and "\n" not in err


def test_prompt_marks_and_safe_json():
    assert marked_segments("a [red] car [on] a road") == [
        ("a ", False),
        ("red", True),
        (" car ", False),
        ("on", True),
        (" a road", False),
    ]
    assert marked_segments("odd [bracket") == [("odd [bracket", False)]
    embedded = embed_json({"x": "</script><b>&"})
    assert "</script>" not in embedded and json.loads(embedded) == {"x": "</script><b>&"}


def test_two_runs_of_one_method_and_name_are_rows_of_their_own(
    tiny_runs, report_dir, tmp_path, capsys
):
    """A copy of the direct run in another folder, scored on two fewer samples: the report's
    tables (as ``table``'s) have a row per run with its own n, per edit type too, and a paper
    block per run; the key tells the copy apart (``direct-2``)."""
    copy = tmp_path / "elsewhere" / "direct"
    shutil.copytree(tiny_runs.direct, copy, ignore=shutil.ignore_patterns("thumbs"))
    scores = (copy / "scores_parity.csv").read_text().splitlines()
    (copy / "scores_parity.csv").write_text("\n".join(scores[:-2]) + "\n")  # 8 of 10 samples
    runs = [tiny_runs.direct, copy]
    args = [*overrides(SAMPLE_ROOT, runs, tiny_runs.metrics_cfg), "compare=paper"]
    out = tmp_path / "report"
    assert main(["report", *args, f"out={out}"]) == 0
    capsys.readouterr()
    page = read_page(out)
    per_run, compared = (table_text(rows) for rows in page.tables["methods"])
    per_type = table_text(page.tables["edit-types"][0])
    assert columns(per_run, "method", "run", "n") == [
        ("direct", "direct", "10"),
        ("direct", "direct-2", "8"),
    ]
    assert main(["table", "--format", "csv", *args]) == 0
    printed = [r for r in csv.reader(io.StringIO(capsys.readouterr().out)) if r and r[0][0] != "#"]
    assert per_run == printed[: len(per_run)]
    assert columns(compared, "run", "kind") == [
        (run, kind)
        for run in ("direct", "direct-2")
        for kind in ("ours", "paper", "delta", "delta_%")
    ]
    scored: dict[str, int] = {}
    for run, n in columns(per_type, "run", "n"):
        scored[run] = scored.get(run, 0) + int(n)
    assert scored == {"direct": 10, "direct-2": 8}


def columns(rows: list[list[str]], *names: str) -> list[tuple[str, ...]]:
    """The cells of the named columns (headed so in ``rows[0]``), one tuple per body row."""
    at = [rows[0].index(name) for name in names]
    return [tuple(row[i] for i in at) for row in rows[1:]]
