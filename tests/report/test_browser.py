"""The report in a real headless browser (Chromium from the OS packages; skipped without it):
the page loads without console messages, the script draws the gallery as the URL asks, and a
screenshot shows the tables and the first gallery rows.

Refresh the README's screenshot with
``PIEBENCH_REPORT_SCREENSHOT=results/report/screenshot.png python -m pytest tests/report/test_browser.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from tests.report.page import read_page

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)"
)
WINDOW = (1400, 4600)


def chromium(url: str, *flags: str) -> subprocess.CompletedProcess:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",  # tests may run as root in containers
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--virtual-time-budget=5000",  # let the script and lazy thumbnails finish
        *flags,
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


class GalleryRows(HTMLParser):
    """``data-id`` of the gallery rows and the runs shown in each, from the rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.runs: list[list[str]] = []
        self.script_error_hidden = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "article" and named.get("data-id"):
            self.ids.append(str(named["data-id"]))
            self.runs.append([])
        elif tag == "figure" and named.get("data-run") and self.runs:
            self.runs[-1].append(str(named["data-run"]))
        elif named.get("id") == "script-error":
            self.script_error_hidden = "hidden" in named


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.search(r":CONSOLE[:(]", line)]


def test_page_renders_filtered_sorted_gallery_without_console_messages(report_dir):
    data = read_page(report_dir).data
    url = (report_dir / "index.html").as_uri()
    state = "#type=8&status=all&sort=psnr_unedit_part&by=ddim&dir=best&runs=ddim&page=1"
    result = chromium(url + state, "--dump-dom")
    assert console_messages(result.stderr) == []
    rows = GalleryRows()
    rows.feed(result.stdout)
    assert rows.script_error_hidden
    best_first = [data["rows"][i]["id"] for i in data["orders"]["ddim"]["psnr_unedit_part"]][::-1]
    expected = [i for i in best_first if i.startswith("8")]
    assert rows.ids == expected and len(expected) == 2
    assert rows.runs == [["ddim"], ["ddim"]]

    result = chromium(url, "--dump-dom")
    rows = GalleryRows()
    rows.feed(result.stdout)
    assert rows.ids == [row["id"] for row in data["rows"][: data["page_size"]]]
    assert all(shown == ["direct", "ddim"] for shown in rows.runs)


def screenshot(url: str, file: Path) -> Image.Image:
    result = chromium(url, f"--screenshot={file}")
    assert console_messages(result.stderr) == []
    with Image.open(file) as image:
        return image.convert("RGB")


def test_screenshot_shows_tables_and_gallery(report_dir, tmp_path):
    url = (report_dir / "index.html").as_uri()
    worst_first = "#sort=psnr_unedit_part&by=ddim&dir=worst"  # failed and missing rows on top
    page = screenshot(url + worst_first, tmp_path / "screenshot.png")
    assert page.size == WINDOW
    # the paper comparison's coloured delta cells (report.css) are on screen
    assert {(0xD7, 0xF5, 0xD7), (0xF9, 0xD4, 0xD4)} & {
        colour for _, colour in page.getcolors(2**24)
    }
    # a view with no gallery rows (sample 9 is missing from ddim) differs from it by the rows
    empty = screenshot(url + "#type=9&status=complete&runs=ddim", tmp_path / "empty.png")
    changed = ImageChops.difference(page, empty).getbbox()
    assert changed is not None and changed[3] - changed[1] > 300, changed
    keep = os.environ.get("PIEBENCH_REPORT_SCREENSHOT")
    if keep:  # the page down to its last row, for the README
        Path(keep).parent.mkdir(parents=True, exist_ok=True)
        bottom = ImageChops.invert(page.convert("L")).getbbox()[3]
        shown = page.crop((0, 0, WINDOW[0], bottom + 16))
        shown.quantize(256, dither=Image.Dither.NONE).save(keep, optimize=True)  # ~0.3 MB
