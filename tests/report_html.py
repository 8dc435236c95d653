"""Reading a driftline report back with the standard library's ``html.parser``: its charts (title, axis titles,
tick labels, bands), its section and element ids, every URL-like attribute, and whether it has scripts.
Shared by the unit, functional and end-to-end tests of the report."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

URL = re.compile(r"\b(?:https?:|ftp:)?//[\w.-]+", re.IGNORECASE)


@dataclass
class ChartRead:
    title: str = ""
    x_title: str = ""
    y_title: str = ""
    x_ticks: list[str] = field(default_factory=list)
    y_ticks: list[str] = field(default_factory=list)
    bands: int = 0
    hlines: int = 0
    points: int = 0
    bars: int = 0
    container: str = ""  # the id of the nearest element with an id around the chart


@dataclass
class ReportRead:
    charts: list[ChartRead] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    scripts: int = 0
    urls: list[str] = field(default_factory=list)  # anything URL-like in an attribute or in the text

    def chart(self, title: str) -> ChartRead:
        found = [c for c in self.charts if c.title == title]
        assert len(found) == 1, (title, [c.title for c in self.charts])
        return found[0]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.read = ReportRead()
        self.stack: list[tuple[str, str | None]] = []
        self.chart: ChartRead | None = None
        self.text_class: str | None = None
        self.in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name, value in attrs:
            if value and name in {"src", "href", "xlink:href", "action", "data", "poster", "style"}:
                self.read.urls += URL.findall(value)
        if tag == "script":
            self.read.scripts += 1
        if tag in {"link", "iframe", "img", "object", "embed"}:
            self.read.urls.append(f"<{tag}>")
        if a.get("id"):
            self.read.ids.append(a["id"] or "")
        if tag == "svg":
            container = next((i for _, i in reversed(self.stack) if i), "")
            self.chart = ChartRead(
                x_title=a.get("data-x-title") or "", y_title=a.get("data-y-title") or "", container=container
            )
        if tag in {"h1", "h2", "h3"}:
            self.in_heading = True
            self.read.headings.append("")
        if self.chart is not None:
            cls = a.get("class") or ""
            if tag == "text":
                self.text_class = cls
            elif cls == "band":
                self.chart.bands += 1
            elif cls == "hline":
                self.chart.hlines += 1
            elif cls == "point":
                self.chart.points += 1
            elif cls == "bar":
                self.chart.bars += 1
        if tag not in {"br", "meta", "line", "rect", "circle", "polygon", "polyline"}:
            self.stack.append((tag, a.get("id")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg" and self.chart is not None:
            self.read.charts.append(self.chart)
            self.chart = None
        if tag == "text":
            self.text_class = None
        if tag in {"h1", "h2", "h3"}:
            self.in_heading = False
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        self.read.urls += URL.findall(data)
        if self.in_heading:
            self.read.headings[-1] += data
        if self.chart is None or self.text_class is None:
            return
        if self.text_class == "chart-title":
            self.chart.title += data
        elif self.text_class == "tick-x":
            self.chart.x_ticks.append(data)
        elif self.text_class == "tick-y":
            self.chart.y_ticks.append(data)


def read_report(text: str) -> ReportRead:
    reader = _Reader()
    reader.feed(text)
    reader.close()
    assert reader.chart is None, "an <svg> was not closed"
    return reader.read


def integer_ticks(ticks: list[str]) -> bool:
    """Every tick label a whole number (``1,000`` allowed), and at least one."""
    return bool(ticks) and all(re.fullmatch(r"-?[\d,]+", t.strip()) for t in ticks)
