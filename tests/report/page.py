"""Reading a written report back as a user's browser would see its static parts: the links,
the tables per section (cell text and classes) and the embedded gallery data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from piebench.report.html import DATA_ID


@dataclass
class Cell:
    text: str
    classes: str


class ParsedPage(HTMLParser):
    """Links (``href``/``src``), tables grouped by section id, and the JSON blob."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tables: dict[str, list[list[list[Cell]]]] = {}
        self.data_text = ""
        self._section = ""
        self._cell: Cell | None = None
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for key in ("href", "src"):
            if named.get(key):
                self.links.append(str(named[key]))
        if tag == "section":
            self._section = str(named.get("id"))
        elif tag == "table":
            self.tables.setdefault(self._section, []).append([])
        elif tag == "tr" and self._section in self.tables:
            self.tables[self._section][-1].append([])
        elif tag in ("td", "th"):
            self._cell = Cell("", str(named.get("class") or ""))
        elif tag == "script" and named.get("id") == DATA_ID:
            self._in_data = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._section][-1][-1].append(self._cell)
            self._cell = None
        elif tag == "script":
            self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.text += data
        if self._in_data:
            self.data_text += data

    @property
    def data(self) -> dict:
        return json.loads(self.data_text)


def read_page(report_dir: Path) -> ParsedPage:
    parsed = ParsedPage()
    parsed.feed((report_dir / "index.html").read_text(encoding="utf-8"))
    return parsed


def table_text(rows: list[list[Cell]]) -> list[list[str]]:
    return [[cell.text for cell in row] for row in rows]
