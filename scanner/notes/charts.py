"""Line charts of one measure across sessions, drawn without any plotting library.

:func:`line_chart` computes the geometry once (points, axes, ticks) in chart
units, origin top-left; two small renderers draw that same geometry:
:func:`to_svg` (inline in the review page: no script, no style attribute, no
external asset, so the strict CSP holds) and :func:`to_drawing` (a ReportLab
drawing for the treatment-summary PDF). Points are placed by date, so a gap
between sessions shows as a gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date as Date
from typing import Sequence
from xml.sax.saxutils import escape, quoteattr

# Colours are presentation attributes (allowed by a CSP without 'unsafe-inline');
# the review stylesheet may restyle the classes.
INK, GRID, LINE, DOT = "#1d2733", "#dfe3e8", "#245d86", "#245d86"
FONT_SIZE = 11.0
MARGIN = {"left": 34.0, "right": 14.0, "top": 12.0, "bottom": 26.0}
LABEL_GAP = 8.0


@dataclass(frozen=True)
class ChartPoint:
    """One confirmed value: where it is drawn and what it says."""

    x: float
    y: float
    date: str
    value: float

    @property
    def label(self) -> str:
        return f"{self.date}: {_number(self.value)}"


@dataclass(frozen=True)
class LineChart:
    """A laid-out chart: size, plot area, points in date order, and axis ticks (position, text)."""

    title: str
    width: float
    height: float
    plot: tuple[float, float, float, float]  # x0, y0, x1, y1
    lo: float
    hi: float
    points: tuple[ChartPoint, ...]
    y_ticks: tuple[tuple[float, str], ...]
    x_ticks: tuple[tuple[float, str, str], ...]  # position, text, anchor (start | middle | end)


def line_chart(series: Sequence[tuple[str, float]], *, lo: float | None = None, hi: float | None = None,
               title: str = "", width: float = 520.0, height: float = 180.0) -> LineChart:
    """Lay out ``series`` of (ISO date, value) as a line chart.

    ``lo``/``hi`` are the measure's range (a 0-10 scale, PHQ-9 0-27); when not
    given the axis starts at 0 (or the lowest value) and ends at a round number
    above the highest. Values outside a given range widen it rather than fall
    off the chart. An empty series gives an empty chart.
    """
    ordered = sorted(((str(d), float(v)) for d, v in series), key=lambda p: p[0])
    values = [v for _, v in ordered]
    lo = min([0.0, *values]) if lo is None else min([float(lo), *values])
    hi = _round_up(max(values, default=lo + 1)) if hi is None else max([float(hi), *values])
    if hi <= lo:
        hi = lo + 1
    x0, y0 = MARGIN["left"], MARGIN["top"]
    x1, y1 = width - MARGIN["right"], height - MARGIN["bottom"]
    xs = _x_positions([d for d, _ in ordered], x0, x1)
    points = tuple(ChartPoint(round(x, 2), round(y1 - (v - lo) / (hi - lo) * (y1 - y0), 2), d, v)
                   for x, (d, v) in zip(xs, ordered))
    y_ticks = tuple((round(y1 - (t - lo) / (hi - lo) * (y1 - y0), 2), _number(t)) for t in _ticks(lo, hi))
    x_ticks = _date_labels(points)
    return LineChart(title, width, height, (x0, y0, x1, y1), lo, hi, points, y_ticks, x_ticks)


def _x_positions(dates: list[str], x0: float, x1: float) -> list[float]:
    """By date when every date parses and they span more than a day; else evenly by session."""
    if not dates:
        return []
    if len(dates) == 1:
        return [(x0 + x1) / 2]
    try:
        days = [Date.fromisoformat(d[:10]).toordinal() for d in dates]
    except ValueError:
        days = []
    if days and days[-1] > days[0]:
        return [x0 + (d - days[0]) / (days[-1] - days[0]) * (x1 - x0) for d in days]
    return [x0 + i / (len(dates) - 1) * (x1 - x0) for i in range(len(dates))]


def _round_up(value: float) -> float:
    """A round axis end at or above ``value`` (10, 20, 25, 50, ...)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _ticks(lo: float, hi: float) -> list[float]:
    """Four to six round values from lo to hi for the y axis."""
    span = hi - lo
    step = next((s * 10 ** math.floor(math.log10(span)) for s in (0.2, 0.5, 1, 2, 5)
                 if span / (s * 10 ** math.floor(math.log10(span))) <= 6), span)
    step = max(step, 1.0) if span >= 4 else step
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _date_labels(points: tuple[ChartPoint, ...]) -> tuple[tuple[float, str, str], ...]:
    """Date labels under the points, as many as fit without overlapping: the last always, the
    first when it fits beside it, then those between that fit.

    The end labels align inwards so that they stay inside the chart.
    """
    if len(points) <= 1:
        return tuple((p.x, p.date, "middle") for p in points)

    def extent(p: ChartPoint, anchor: str) -> tuple[float, float]:
        w = len(p.date) * FONT_SIZE * 0.6  # a generous width for digits in a sans font
        return {"start": (p.x, p.x + w), "end": (p.x - w, p.x)}.get(anchor, (p.x - w / 2, p.x + w / 2))

    last = extent(points[-1], "end")
    chosen = [(points[0], "start")]
    for p in points[1:-1]:
        a, b = extent(p, "middle")
        if a >= extent(*chosen[-1])[1] + LABEL_GAP and b <= last[0] - LABEL_GAP:
            chosen.append((p, "middle"))
    if last[0] < extent(*chosen[-1])[1] + LABEL_GAP:
        chosen = []  # only the first is chosen and it overlaps the last: the last date says more
    chosen.append((points[-1], "end"))
    return tuple((p.x, p.date, anchor) for p, anchor in chosen)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


# ---------------------------------------------------------------- SVG


def to_svg(chart: LineChart, *, label: str | None = None) -> str:
    """The chart as one standalone ``<svg>`` element (valid XML; all text escaped).

    Each point is a ``<circle class="point">`` with a ``<title>`` (date: value),
    which browsers show as a tooltip without any script.
    """
    x0, y0, x1, y1 = chart.plot
    name = label or chart.title or "Chart"
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {_n(chart.width)} {_n(chart.height)}" '
            f'width="{_n(chart.width)}" height="{_n(chart.height)}" role="img" aria-label={quoteattr(name)}>'),
           f"<title>{escape(name)}</title>"]
    for y, text in chart.y_ticks:
        out.append(f'<line class="grid" x1="{_n(x0)}" y1="{_n(y)}" x2="{_n(x1)}" y2="{_n(y)}" stroke="{GRID}" '
                   f'stroke-width="1"/>')
        out.append(f'<text class="tick" x="{_n(x0 - 6)}" y="{_n(y + 3.5)}" text-anchor="end" '
                   f'font-size="{_n(FONT_SIZE)}" fill="{INK}">{escape(text)}</text>')
    out.append(f'<line class="axis" x1="{_n(x0)}" y1="{_n(y1)}" x2="{_n(x1)}" y2="{_n(y1)}" stroke="{INK}" '
               f'stroke-width="1"/>')
    for x, text, anchor in chart.x_ticks:
        out.append(f'<text class="tick" x="{_n(x)}" y="{_n(y1 + 16)}" text-anchor="{anchor}" '
                   f'font-size="{_n(FONT_SIZE)}" fill="{INK}">{escape(text)}</text>')
    if len(chart.points) > 1:
        coords = " ".join(f"{_n(p.x)},{_n(p.y)}" for p in chart.points)
        out.append(f'<polyline class="line" points="{coords}" fill="none" stroke="{LINE}" stroke-width="2"/>')
    for p in chart.points:
        out.append(f'<circle class="point" cx="{_n(p.x)}" cy="{_n(p.y)}" r="3.5" fill="{DOT}">'
                   f"<title>{escape(p.label)}</title></circle>")
    if not chart.points:
        out.append(f'<text class="empty" x="{_n((x0 + x1) / 2)}" y="{_n((y0 + y1) / 2)}" text-anchor="middle" '
                   f'font-size="{_n(FONT_SIZE)}" fill="{INK}">No confirmed values</text>')
    out.append("</svg>")
    return "".join(out)


def _n(value: float) -> str:
    """A coordinate for SVG: short, never '1e-05'."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# ---------------------------------------------------------------- ReportLab


def to_drawing(chart: LineChart, font: str = "Helvetica"):
    """The chart as a ``reportlab.graphics.shapes.Drawing`` (same geometry, y flipped for PDF)."""
    from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, String
    from reportlab.lib.colors import HexColor

    h = chart.height
    x0, _y0, x1, y1 = chart.plot
    d = Drawing(chart.width, chart.height)
    for y, text in chart.y_ticks:
        d.add(Line(x0, h - y, x1, h - y, strokeColor=HexColor(GRID), strokeWidth=0.6))
        d.add(String(x0 - 6, h - y - 3, text, fontName=font, fontSize=FONT_SIZE - 1, textAnchor="end",
                     fillColor=HexColor(INK)))
    d.add(Line(x0, h - y1, x1, h - y1, strokeColor=HexColor(INK), strokeWidth=0.8))
    for x, text, anchor in chart.x_ticks:
        d.add(String(x, h - y1 - 14, text, fontName=font, fontSize=FONT_SIZE - 1, textAnchor=anchor,
                     fillColor=HexColor(INK)))
    if len(chart.points) > 1:
        coords = [c for p in chart.points for c in (p.x, h - p.y)]
        d.add(PolyLine(coords, strokeColor=HexColor(LINE), strokeWidth=1.6))
    for p in chart.points:
        d.add(Circle(p.x, h - p.y, 2.6, fillColor=HexColor(DOT), strokeColor=None))
    return d
