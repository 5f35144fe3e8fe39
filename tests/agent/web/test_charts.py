"""Chart geometry: marks inside the plot, heights proportional to the values, gaps kept."""

from __future__ import annotations

import pytest

from softloop.agent.web.charts import MAX_X_LABELS, Series, rate_bars, rate_lines


def test_bars_are_proportional_and_inside_the_plot() -> None:
    chart = rate_bars(
        ["a", "b", "c"],
        [Series("pass", "pass rate", (1.0, 0.5, None)), Series("first", "first", (0.5, 0.0, 0.25))],
    )
    assert not chart.empty
    assert len(chart.bars) == 5  # the missing value has no bar
    full = chart.bottom - chart.top
    heights = {(b.key, b.title.split(":")[0]): b.height for b in chart.bars}
    assert heights[("pass", "a")] == pytest.approx(full)
    assert heights[("pass", "b")] == pytest.approx(full / 2)
    assert heights[("first", "b")] == 0
    for bar in chart.bars:
        assert chart.left <= bar.x and bar.x + bar.width <= chart.right
        assert chart.top - 1e-9 <= bar.y and bar.y + bar.height <= chart.bottom + 1e-9
    assert [t.label for t in chart.y_ticks] == ["0%", "50%", "100%"]
    assert chart.bars[0].title == "a: pass rate 100%"


def test_lines_break_at_missing_values() -> None:
    chart = rate_lines(
        ["v1", "v2", "v3", "v4"],
        [Series("live", "pass rate", (0.5, None, 0.75, 1.0), ("retired", "", "", "active"))],
    )
    (line,) = chart.lines
    assert len(line.dots) == 3 and len(line.segments) == 2
    assert line.segments[0].count(",") == 1 and line.segments[1].count(",") == 2
    assert [d.css for d in line.dots] == ["retired", "", "active"]
    xs = [d.x for d in line.dots]
    assert xs == sorted(xs) and chart.left < xs[0] and xs[-1] < chart.right


def test_values_above_one_stretch_the_axis() -> None:
    chart = rate_lines(["v1", "v2"], [Series("metric", "loss", (2.0, 4.0))])
    assert [t.label for t in chart.y_ticks] == ["0", "2", "4"]
    assert chart.lines[0].dots[1].y == pytest.approx(chart.top)


def test_an_empty_chart_says_so_and_long_axes_are_thinned() -> None:
    assert rate_bars([], []).empty
    assert rate_lines(["v1"], [Series("metric", "accuracy", (None,))]).empty
    days = [f"d{i}" for i in range(30)]
    chart = rate_bars(days, [Series("pass", "pass", tuple(0.5 for _ in days))])
    assert len(chart.x_ticks) <= MAX_X_LABELS and chart.x_ticks[0].label == "d0"
