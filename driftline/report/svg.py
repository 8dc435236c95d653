"""Charts as inline SVG: what the report draws, with no script and no library, so the report is one file that opens
offline in any browser and prints as it shows.

A chart has an x axis (time, numbers or categories) and a y axis (numbers), each with a title; series drawn as
lines, markers or bars; bands (a shaded range between a lower and an upper series) and horizontal lines
(thresholds). Ticks are "nice" numbers; an axis marked ``integer`` gets whole-number ticks only (class labels,
counts), never 0.5. Every point carries a ``<title>`` (the browser's tooltip). Tick labels and axis titles are
``<text>`` elements with classes (``tick-x``, ``tick-y``, ``axis-title x``, ``axis-title y``) so what a chart says
can be read back from the HTML.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

TIME = "time"
LINEAR = "linear"
CATEGORY = "category"

PALETTE = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#00838f", "#ad1457", "#4e342e", "#546e7a")
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
DAY = 86400


@dataclass
class Axis:
    """``kind``: time (x values are POSIX seconds, shown in UTC), linear, or category (x values are indices into
    ``categories``). ``integer``: whole-number ticks only."""

    title: str
    kind: str = LINEAR
    integer: bool = False
    categories: Sequence[str] = ()
    low: float | None = None  # forced range (else from the data)
    high: float | None = None


@dataclass
class Series:
    name: str
    x: Sequence[float]
    y: Sequence[float | None]
    mode: str = "lines+markers"  # or "markers", "bars"
    colour: str | None = None
    point_colours: Sequence[str] | None = None
    tips: Sequence[str] | None = None
    widths: Sequence[float] | None = None  # bars: each bar's width in x units
    labels: Sequence[str] | None = None  # text over each bar


@dataclass
class Band:
    name: str
    x: Sequence[float]
    lower: Sequence[float]
    upper: Sequence[float]
    colour: str = "#90caf9"


@dataclass
class HLine:
    name: str
    y: float
    colour: str = "#757575"
    dash: str = "6 4"


@dataclass
class Chart:
    title: str
    x: Axis
    y: Axis
    series: list[Series] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    lines: list[HLine] = field(default_factory=list)
    width: int = 960
    height: int = 300


# ------------------------------------------------------------------------------------------------ ticks


def nice_step(span: float, target: int = 6, integer: bool = False) -> float:
    """A step of 1, 2, 2.5 or 5 times a power of ten giving about ``target`` ticks over ``span``; for an
    ``integer`` axis 1, 2 or 5 times a power of ten and at least 1, so every tick is a whole number."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target
    power = 10 ** math.floor(math.log10(raw))
    factors = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(f * power for f in factors if f * power >= raw * (1 - 1e-12))
    return float(max(1, round(step))) if integer else float(step)


def linear_ticks(low: float, high: float, integer: bool = False) -> list[float]:
    step = nice_step(high - low, integer=integer)
    first = math.ceil(low / step - 1e-9) * step
    count = math.floor((high - first) / step + 1e-9) + 1
    return [round(first + i * step, 12) for i in range(max(count, 0))]


def format_number(value: float, step: float) -> str:
    """``value`` with as many decimals as the tick step needs (0.25 -> 2, 0.5 -> 1, 5 -> 0)."""
    decimals = next((d for d in range(9) if abs(round(step, d) - step) <= abs(step) * 1e-9), 8)
    return f"{value:,.{decimals}f}"


def time_ticks(low: float, high: float) -> tuple[list[float], str]:
    """Tick times (POSIX seconds) on round UTC boundaries and the strftime format to show them."""
    span = max(high - low, 1.0)
    step = next((s for s in TIME_STEPS if span / s <= 7), None)
    if step is None:
        days = math.ceil(span / DAY / 7)
        step = days * DAY
    first = math.ceil(low / step) * step
    ticks = [float(t) for t in range(int(first), int(high) + 1, int(step))] or [low]
    fmt = "%H:%M:%S" if step < 60 else "%H:%M" if step < DAY else "%Y-%m-%d"
    return ticks, fmt


# ------------------------------------------------------------------------------------------------ drawing

MARGIN = {"left": 78, "right": 190, "top": 34, "bottom": 58}


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _range(values: list[float], axis: Axis, pad: float) -> tuple[float, float]:
    low = axis.low if axis.low is not None else (min(values) if values else 0.0)
    high = axis.high if axis.high is not None else (max(values) if values else 1.0)
    if high <= low:  # one value: a range around it (a minute either side of one time)
        half = 60.0 if axis.kind == TIME else 0.5 if axis.integer or low == 0 else abs(low) * 0.1
        low, high = low - half, high + half
    span = high - low
    if axis.low is None:
        low -= span * pad
    if axis.high is None:
        high += span * pad
    return low, high


@dataclass(frozen=True)
class _Frame:
    """Where a chart draws: the plot area's pixel box (inside the margins) and the data ranges it shows, with the
    data -> pixel mappings."""

    chart: Chart
    left: int
    right: int
    top: int
    bottom: int
    x_low: float
    x_high: float
    y_low: float
    y_high: float

    def px(self, x: float) -> float:
        return self.left + (float(x) - self.x_low) / (self.x_high - self.x_low) * (self.right - self.left)

    def py(self, y: float) -> float:
        return self.bottom - (float(y) - self.y_low) / (self.y_high - self.y_low) * (self.bottom - self.top)


def _extents(chart: Chart) -> tuple[list[float], list[float]]:
    """Every x and y the chart must show: points, bar edges, bands, thresholds, and 0 under bars."""
    xs: list[float] = []
    ys: list[float] = []
    for s in chart.series:
        xs += _finite(s.x)
        ys += _finite(s.y)
        if s.mode == "bars" and s.widths:
            xs += [float(x) - float(wd) / 2 for x, wd in zip(s.x, s.widths, strict=True)]
            xs += [float(x) + float(wd) / 2 for x, wd in zip(s.x, s.widths, strict=True)]
    for b in chart.bands:
        xs += _finite(b.x)
        ys += _finite(b.lower) + _finite(b.upper)
    ys += [line.y for line in chart.lines if math.isfinite(line.y)]
    if any(s.mode == "bars" for s in chart.series):
        ys.append(0.0)
    return xs, ys


def _frame(chart: Chart) -> _Frame:
    """The plot area and the ranges: the data's extents padded, or the axes' forced ranges; categories sit at
    whole-number slots; an integer axis holds at least one whole number; bars stand on 0."""
    xs, ys = _extents(chart)
    if chart.x.kind == CATEGORY:
        x_low, x_high = -0.5, max(len(chart.x.categories), 1) - 0.5
    else:
        x_low, x_high = _range(xs, chart.x, 0.03)
    y_low, y_high = _range(ys, chart.y, 0.08)
    if chart.y.integer and math.ceil(y_low) > y_high:  # no whole number inside: widen to one
        y_low, y_high = math.floor(y_low), math.ceil(y_high)
    if chart.x.integer and chart.x.kind == LINEAR and math.ceil(x_low) > x_high:
        x_low, x_high = math.floor(x_low), math.ceil(x_high)
    if any(s.mode == "bars" for s in chart.series) and chart.y.low is None:
        y_low = 0.0
    return _Frame(
        chart,
        left=MARGIN["left"],
        right=chart.width - MARGIN["right"],
        top=MARGIN["top"],
        bottom=chart.height - MARGIN["bottom"],
        x_low=x_low,
        x_high=x_high,
        y_low=y_low,
        y_high=y_high,
    )


def _tick_labels(ticks: list[float], integer: bool) -> list[str]:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    return [f"{int(t):,}" if integer else format_number(t, step) for t in ticks]


def _y_ticks(f: _Frame) -> list[str]:
    """Horizontal grid lines with their labels."""
    out = []
    ticks = linear_ticks(f.y_low, f.y_high, f.chart.y.integer)
    for t, label in zip(ticks, _tick_labels(ticks, f.chart.y.integer), strict=True):
        y = f.py(t)
        out.append(f'<line x1="{f.left}" x2="{f.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e6e6"/>')
        out.append(
            f'<text class="tick-y" x="{f.left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{label}</text>'
        )
    return out


def _category_ticks(f: _Frame) -> list[str]:
    """Each category's name under its slot (cut to 18 characters; slanted when there are more than 8)."""
    out = []
    many = len(f.chart.x.categories) > 8
    for i, name in enumerate(f.chart.x.categories):
        x = f.px(i)
        text = escape(name if len(name) <= 18 else name[:17] + "…")
        rotate = f' transform="rotate(-30 {x:.1f} {f.bottom + 14})"' if many else ""
        anchor = "end" if many else "middle"
        out.append(
            f'<text class="tick-x" x="{x:.1f}" y="{f.bottom + 14}" font-size="11" '
            f'text-anchor="{anchor}"{rotate}>{text}</text>'
        )
    return out


def _x_ticks(f: _Frame) -> list[str]:
    """Vertical grid lines with their labels: UTC times on a time axis, nice numbers on a linear one."""
    if f.chart.x.kind == CATEGORY:
        return _category_ticks(f)
    if f.chart.x.kind == TIME:
        ticks, fmt = time_ticks(f.x_low, f.x_high)
        labels = [datetime.fromtimestamp(t, UTC).strftime(fmt) for t in ticks]
    else:
        ticks = linear_ticks(f.x_low, f.x_high, f.chart.x.integer)
        labels = _tick_labels(ticks, f.chart.x.integer)
    out = []
    for t, label in zip(ticks, labels, strict=True):
        if not f.x_low <= t <= f.x_high:
            continue
        x = f.px(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{f.top}" y2="{f.bottom}" stroke="#eeeeee"/>')
        out.append(
            f'<text class="tick-x" x="{x:.1f}" y="{f.bottom + 16}" font-size="11" text-anchor="middle">{label}</text>'
        )
    return out


def _axis_titles(f: _Frame) -> list[str]:
    cy = (f.top + f.bottom) / 2
    return [
        f'<text class="axis-title x" x="{(f.left + f.right) / 2:.1f}" y="{f.chart.height - 10}" font-size="12" '
        f'text-anchor="middle">{escape(f.chart.x.title)}</text>',
        f'<text class="axis-title y" x="16" y="{cy:.1f}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 16 {cy:.1f})">{escape(f.chart.y.title)}</text>',
    ]


def _band(f: _Frame, band: Band) -> str | None:
    """The shaded range between the band's bounds (a short vertical bar for one point); None with no finite
    point."""
    points = [
        (f.px(x), f.py(lo), f.py(hi))
        for x, lo, hi in zip(band.x, band.lower, band.upper, strict=True)
        if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
    ]
    if not points:
        return None
    if len(points) == 1:  # one window: a short vertical bar shows its range
        x, lo, hi = points[0]
        return (
            f'<rect class="band" x="{x - 6:.1f}" y="{hi:.1f}" width="12" height="{max(lo - hi, 1):.1f}" '
            f'fill="{band.colour}" fill-opacity="0.45"><title>{escape(band.name)}</title></rect>'
        )
    upper = " ".join(f"{x:.1f},{hi:.1f}" for x, _, hi in points)
    lower = " ".join(f"{x:.1f},{lo:.1f}" for x, lo, _ in reversed(points))
    return (
        f'<polygon class="band" points="{upper} {lower}" fill="{band.colour}" fill-opacity="0.45">'
        f"<title>{escape(band.name)}</title></polygon>"
    )


def _hline(f: _Frame, line: HLine) -> str:
    y = f.py(line.y)
    return (
        f'<line class="hline" x1="{f.left}" x2="{f.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{line.colour}" '
        f'stroke-dasharray="{line.dash}"><title>{escape(line.name)}: {line.y:g}</title></line>'
    )


_Point = tuple[float, float, str | None, int]  # x, y, tip, index in the series


def _drawn(s: Series) -> list[_Point]:
    """The series' points with a finite y."""
    tips = list(s.tips) if s.tips is not None else [None] * len(s.x)
    return [
        (float(x), float(y), tips[i], i)
        for i, (x, y) in enumerate(zip(s.x, s.y, strict=True))
        if y is not None and math.isfinite(float(y))
    ]


def _bars(f: _Frame, s: Series, colour: str, slot: int, slots: int) -> list[str]:
    """Bars from 0, side by side: each bar series takes its ``slot`` of ``slots`` in every bar's width."""
    out = []
    share = 1 / slots
    for x, y, tip, i in _drawn(s):
        full = float(s.widths[i]) if s.widths else 0.8
        bw = full * share * 0.9
        x0 = x - full / 2 + full * share * slot + full * share * 0.05
        x_left, x_right = f.px(x0), f.px(x0 + bw)
        y_top, y_zero = f.py(max(y, 0)), f.py(0)
        title = f"<title>{escape(tip)}</title>" if tip else ""
        out.append(
            f'<rect class="bar" x="{x_left:.1f}" y="{y_top:.1f}" width="{max(x_right - x_left, 1):.1f}" '
            f'height="{max(y_zero - y_top, 0):.1f}" fill="{colour}" fill-opacity="0.8">{title}</rect>'
        )
        if s.labels and s.labels[i]:
            out.append(
                f'<text x="{(x_left + x_right) / 2:.1f}" y="{y_top - 3:.1f}" font-size="10" '
                f'text-anchor="middle">{escape(s.labels[i])}</text>'
            )
    return out


def _line_and_markers(f: _Frame, s: Series, colour: str) -> list[str]:
    """A polyline through the points (``lines`` modes, two points or more) and a circle on each point."""
    out = []
    drawn = _drawn(s)
    if "lines" in s.mode and len(drawn) > 1:
        path = " ".join(f"{f.px(x):.1f},{f.py(y):.1f}" for x, y, _, _ in drawn)
        out.append(f'<polyline class="series" points="{path}" fill="none" stroke="{colour}" stroke-width="1.6"/>')
    radius = 3.5 if len(drawn) < 200 else 2
    for x, y, tip, i in drawn:
        fill = s.point_colours[i] if s.point_colours else colour
        title = f"<title>{escape(tip)}</title>" if tip else ""
        out.append(
            f'<circle class="point" cx="{f.px(x):.1f}" cy="{f.py(y):.1f}" r="{radius}" fill="{fill}" '
            f'stroke="{colour}" stroke-width="0.8">{title}</circle>'
        )
    return out


def _legend(f: _Frame, entries: list[tuple[str, str, str]]) -> list[str]:
    """One row per band, threshold and series right of the plot: a swatch (a dash for a threshold) and the name,
    cut to 26 characters with the full name as its tooltip."""
    out = []
    ly = f.top + 4
    for name, colour, kind in entries:
        if kind == "line":
            out.append(
                f'<line x1="{f.right + 10}" x2="{f.right + 26}" y1="{ly + 6}" y2="{ly + 6}" stroke="{colour}" '
                'stroke-dasharray="4 3"/>'
            )
        else:
            opacity = "0.45" if kind == "band" else "0.9"
            out.append(
                f'<rect x="{f.right + 10}" y="{ly}" width="16" height="11" fill="{colour}" fill-opacity="{opacity}"/>'
            )
        short = name if len(name) <= 26 else name[:25] + "…"
        out.append(
            f'<text class="legend" x="{f.right + 31}" y="{ly + 10}" font-size="11">{escape(short)}'
            f"<title>{escape(name)}</title></text>"
        )
        ly += 17
    return out


def render(chart: Chart) -> str:
    """The chart as an ``<svg>`` element: frame, grid and ticks, axis titles, then bands, thresholds and series
    (drawn in that order, so series lie on top), then the legend."""
    f = _frame(chart)
    out = [
        f'<svg class="chart" viewBox="0 0 {chart.width} {chart.height}" width="100%" '
        f'role="img" aria-label="{escape(chart.title)}" data-x-title="{escape(chart.x.title)}" '
        f'data-y-title="{escape(chart.y.title)}">',
        f'<text class="chart-title" x="{f.left}" y="20" font-size="14" font-weight="600">{escape(chart.title)}</text>',
        f'<rect x="{f.left}" y="{f.top}" width="{f.right - f.left}" height="{f.bottom - f.top}" fill="#fafafa" '
        'stroke="#ddd"/>',
    ]
    out += _y_ticks(f) + _x_ticks(f) + _axis_titles(f)
    legend: list[tuple[str, str, str]] = []  # (name, colour, kind)
    for band in chart.bands:
        drawn = _band(f, band)
        if drawn is not None:
            out.append(drawn)
            legend.append((band.name, band.colour, "band"))
    for line in chart.lines:
        if f.y_low <= line.y <= f.y_high:
            out.append(_hline(f, line))
            legend.append((f"{line.name} ({line.y:g})", line.colour, "line"))
    bars = sum(1 for s in chart.series if s.mode == "bars")
    slot = 0  # each bar series its own place beside the others, even two equal ones
    for index, s in enumerate(chart.series):
        colour = s.colour or PALETTE[index % len(PALETTE)]
        if s.mode == "bars":
            legend.append((s.name, colour, "bars"))
            out += _bars(f, s, colour, slot, bars)
            slot += 1
        else:
            legend.append((s.name, colour, "series"))
            out += _line_and_markers(f, s, colour)
    out += _legend(f, legend)
    out.append("</svg>")
    return "".join(out)
