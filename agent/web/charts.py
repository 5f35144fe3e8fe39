"""Small charts as geometry: the templates draw it as inline SVG.

Computing positions here and leaving the markup to Jinja keeps every label (a task name, a
prompt name) behind the template's escaping, needs no JavaScript, and makes the geometry
testable on its own. Every chart here plots rates, so the y axis runs from 0 to 1 (further only
if a value exceeds 1, as an unusual metric might).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 640
HEIGHT = 180
# Room for the y-axis labels on the left and the category labels underneath.
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 40, 10, 10, 28
MAX_X_LABELS = 10


@dataclass(frozen=True)
class Series:
    """One quantity across the categories; None where it has no value.

    key: names the CSS class the series is drawn with (a fixed word, never user text).
    classes: optional extra CSS class per point (e.g. a prompt version's status).
    """

    key: str
    label: str
    values: tuple[float | None, ...]
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    key: str
    title: str


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    key: str
    css: str
    title: str


@dataclass(frozen=True)
class Line:
    key: str
    # One "x,y x,y ..." string per SVG polyline: a missing value breaks the line, so that a
    # version without runs is not drawn as if it had a value between its neighbours.
    segments: tuple[str, ...]
    dots: tuple[Dot, ...]


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class Chart:
    """What an SVG chart needs: its size, the plot box, marks, axis ticks and a legend."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    legend: tuple[tuple[str, str], ...]  # (series key, label)
    bars: tuple[Bar, ...] = ()
    lines: tuple[Line, ...] = ()
    title: str = ""
    empty: bool = field(default=False)


def _fmt(value: float, as_rate: bool) -> str:
    return f"{100 * value:.0f}%" if as_rate else f"{value:.3g}"


def _frame(
    categories: Sequence[str], series: Sequence[Series], width: int, height: int
) -> tuple[float, float, float, float, float, tuple[Tick, ...], bool]:
    values = [v for s in series for v in s.values if v is not None]
    top_value = max([1.0, *values])
    as_rate = top_value == 1.0
    left, top = float(MARGIN_LEFT), float(MARGIN_TOP)
    right, bottom = float(width - MARGIN_RIGHT), float(height - MARGIN_BOTTOM)
    y_ticks = tuple(
        Tick(bottom - f * (bottom - top), _fmt(f * top_value, as_rate)) for f in (0.0, 0.5, 1.0)
    )
    return left, top, right, bottom, top_value, y_ticks, not values or not categories


def _x_ticks(categories: Sequence[str], centres: Sequence[float]) -> tuple[Tick, ...]:
    step = max(1, -(-len(categories) // MAX_X_LABELS))  # ceil: at most MAX_X_LABELS labels
    return tuple(Tick(centres[i], categories[i]) for i in range(0, len(categories), step))


def rate_bars(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str = "",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Chart:
    """Grouped bars: one group per category, one bar per series."""
    left, top, right, bottom, top_value, y_ticks, empty = _frame(categories, series, width, height)
    n = max(1, len(categories))
    group = (right - left) / n
    bar_w = group * 0.8 / max(1, len(series))
    bars: list[Bar] = []
    centres: list[float] = []
    for i, category in enumerate(categories):
        start = left + i * group + group * 0.1
        centres.append(left + (i + 0.5) * group)
        for j, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else None
            if value is None:
                continue
            h = (bottom - top) * value / top_value
            bars.append(
                Bar(
                    x=start + j * bar_w,
                    y=bottom - h,
                    width=max(bar_w - 1, 1),
                    height=h,
                    key=s.key,
                    title=f"{category}: {s.label} {_fmt(value, top_value == 1.0)}",
                )
            )
    return Chart(
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        y_ticks=y_ticks,
        x_ticks=_x_ticks(categories, centres),
        legend=tuple((s.key, s.label) for s in series),
        bars=tuple(bars),
        title=title,
        empty=empty,
    )


def rate_lines(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str = "",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Chart:
    """One line per series across the categories (gaps where a value is missing)."""
    left, top, right, bottom, top_value, y_ticks, empty = _frame(categories, series, width, height)
    n = len(categories)
    pad = (right - left) / (2 * n) if n else 0.0
    span = right - left - 2 * pad
    centres = [left + pad + (span * i / (n - 1) if n > 1 else span / 2) for i in range(n)]
    lines: list[Line] = []
    for s in series:
        dots: list[Dot] = []
        pieces: list[list[Dot]] = [[]]
        for i, value in enumerate(s.values[:n]):
            if value is None:
                if pieces[-1]:
                    pieces.append([])
                continue
            css = s.classes[i] if i < len(s.classes) else ""
            dots.append(
                Dot(
                    x=centres[i],
                    y=bottom - (bottom - top) * value / top_value,
                    key=s.key,
                    css=css,
                    title=f"{categories[i]}: {s.label} {_fmt(value, top_value == 1.0)}",
                )
            )
            pieces[-1].append(dots[-1])
        segments = tuple(
            " ".join(f"{d.x:.1f},{d.y:.1f}" for d in piece) for piece in pieces if piece
        )
        lines.append(Line(key=s.key, segments=segments, dots=tuple(dots)))
    return Chart(
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        y_ticks=y_ticks,
        x_ticks=_x_ticks(categories, centres),
        legend=tuple((s.key, s.label) for s in series),
        lines=tuple(lines),
        title=title,
        empty=empty,
    )


__all__ = ["Bar", "Chart", "Dot", "Line", "Series", "Tick", "rate_bars", "rate_lines"]
