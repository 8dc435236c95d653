"""The report's charts drawn directly from ``driftline.report.svg``: the cases the report's own tests do not reach
(missing points, one-window bands, thresholds outside a forced range, side-by-side bars, time tick formats, many
and long categories, the legend), read back as XML."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from driftline.report.svg import CATEGORY, TIME, Axis, Band, Chart, HLine, Series, render

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC).timestamp()


def _svg(chart: Chart) -> ET.Element:
    return ET.fromstring(render(chart))


def _of_class(svg: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in svg.iter(tag) if e.get("class") == cls]


def _texts(svg: ET.Element, cls: str) -> list[str]:
    return ["".join(e.itertext()) for e in _of_class(svg, "text", cls)]


def _legend(svg: ET.Element) -> list[str]:
    return [e.text or "" for e in _of_class(svg, "text", "legend")]


def test_missing_and_nan_points_are_skipped_and_tips_stay_with_their_points():
    svg = _svg(
        Chart(
            "t",
            Axis("x"),
            Axis("y"),
            series=[Series("s", [0, 1, 2, 3], [1.0, None, math.nan, 2.0], tips=["a", "b", "c", "d"])],
        )
    )
    points = _of_class(svg, "circle", "point")
    assert [p.findtext("title") for p in points] == ["a", "d"]
    (line,) = _of_class(svg, "polyline", "series")
    assert len((line.get("points") or "").split()) == 2
    one = _svg(Chart("t", Axis("x"), Axis("y"), series=[Series("s", [0, 1], [1.0, None])]))
    assert _of_class(one, "polyline", "series") == []  # one point: a marker, no line
    assert len(_of_class(one, "circle", "point")) == 1


def test_a_band_over_one_window_is_a_bar_and_a_band_without_finite_bounds_is_left_out():
    svg = _svg(
        Chart(
            "t",
            Axis("time", kind=TIME),
            Axis("y"),
            bands=[
                Band("one", [T0], [1.0], [2.0]),
                Band("several", [T0, T0 + 60, T0 + 120], [1.0, 1.5, 1.2], [2.0, 2.5, 2.2]),
                Band("none", [T0], [math.nan], [2.0]),
            ],
        )
    )
    (bar,) = _of_class(svg, "rect", "band")
    assert bar.findtext("title") == "one"
    assert float(bar.get("height") or 0) > 1
    (polygon,) = _of_class(svg, "polygon", "band")
    assert len((polygon.get("points") or "").split()) == 6  # upper edge there, lower edge back
    assert _legend(svg) == ["one", "several"]


def test_thresholds_outside_a_forced_range_are_neither_drawn_nor_listed():
    svg = _svg(
        Chart(
            "t",
            Axis("x"),
            Axis("y", low=0.0, high=1.0),
            series=[Series("s", [0, 1], [0.2, 0.4])],
            lines=[HLine("in", 0.5), HLine("above", 1.5), HLine("nan", math.nan)],
        )
    )
    assert [e.findtext("title") for e in _of_class(svg, "line", "hline")] == ["in: 0.5"]
    assert _legend(svg) == ["in (0.5)", "s"]  # bands, then thresholds, then series


def test_bar_series_share_each_bar_side_by_side_from_zero():
    widths = [2.0, 2.0]
    svg = _svg(
        Chart(
            "t",
            Axis("x"),
            Axis("y"),
            series=[
                Series("a", [0, 2], [1.0, -1.0], mode="bars", widths=widths, labels=["A", ""]),
                Series("b", [0, 2], [2.0, 1.0], mode="bars", widths=widths),
            ],
        )
    )
    bars = _of_class(svg, "rect", "bar")
    a0, a1, b0, _ = bars
    assert float(a0.get("x") or 0) + float(a0.get("width") or 0) <= float(b0.get("x") or 0)
    assert float(a1.get("height") or 1) == 0  # a negative value: no bar above the zero line
    assert float(_texts(svg, "tick-y")[0]) == 0  # bars stand on 0
    assert [e.text for e in svg.iter("text") if e.get("class") is None] == ["A"]


def test_time_ticks_show_seconds_minutes_or_dates_by_span():
    formats = {30: r"\d\d:\d\d:\d\d", 3 * 3600: r"\d\d:\d\d", 20 * 86400: r"\d{4}-\d\d-\d\d"}
    for span, pattern in formats.items():
        svg = _svg(Chart("t", Axis("time", kind=TIME), Axis("y"), series=[Series("s", [T0, T0 + span], [1, 2])]))
        ticks = _texts(svg, "tick-x")
        assert 2 <= len(ticks) <= 8, (span, ticks)
        assert all(re.fullmatch(pattern, t) for t in ticks), (span, ticks)


def test_many_categories_are_slanted_and_long_names_cut():
    names = [f"category number {i} with a long name" for i in range(9)]
    svg = _svg(Chart("t", Axis("c", kind=CATEGORY, categories=names), Axis("y")))
    ticks = _of_class(svg, "text", "tick-x")
    assert all("rotate(-30" in (t.get("transform") or "") for t in ticks)
    assert all(len(t.text or "") == 18 and (t.text or "").endswith("…") for t in ticks)
    few = _svg(Chart("t", Axis("c", kind=CATEGORY, categories=["a", "b"]), Axis("y")))
    assert [t.get("transform") for t in _of_class(few, "text", "tick-x")] == [None, None]


def test_integer_axes_over_a_narrow_range_still_get_a_whole_number():
    svg = _svg(
        Chart("t", Axis("x", integer=True), Axis("y", integer=True), series=[Series("s", [0.2, 0.3], [0.4, 0.45])])
    )
    for cls in ("tick-x", "tick-y"):
        ticks = _texts(svg, cls)
        assert ticks, cls
        assert all(re.fullmatch(r"-?\d+", t) for t in ticks), (cls, ticks)


def test_legend_names_are_cut_with_the_full_name_as_tooltip_and_text_is_escaped():
    name = "a series whose name is far longer than the legend <&>"
    svg = _svg(Chart("<t> & u", Axis("x"), Axis("y"), series=[Series(name, [0, 1], [0, 1])]))
    (entry,) = _of_class(svg, "text", "legend")
    assert entry.text == name[:25] + "…"
    assert entry.findtext("title") == name
    assert svg.get("aria-label") == "<t> & u"


def test_an_empty_chart_still_has_axes():
    svg = _svg(Chart("t", Axis("x"), Axis("y")))
    ticks = _texts(svg, "tick-y")
    assert ticks[0] == "0.0"
    assert ticks[-1] == "1.0"
    assert _of_class(svg, "circle", "point") == []
    assert _legend(svg) == []
