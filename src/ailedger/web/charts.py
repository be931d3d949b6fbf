"""Small server-side SVG charts, so pages show shapes without a JavaScript build."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MIN_SLOTS = 8
MAX_LABELS = 12  # more labels than this overlap at the default width


@dataclass(frozen=True)
class Bar:
    """One bar, already placed in SVG user units (``y`` grows downwards)."""

    label: str
    value: float
    x: float
    y: float
    width: float
    height: float
    show_label: bool = True


@dataclass(frozen=True)
class BarChart:
    """A laid-out bar chart; ``_bar_chart.html`` draws it."""

    title: str
    value_label: str
    bars: tuple[Bar, ...]
    width: int
    height: int

    @property
    def empty(self) -> bool:
        """Whether there is nothing to draw (the template then says so)."""
        return not self.bars


def bar_chart(
    points: list[tuple[str, float]],
    *,
    title: str,
    value_label: str,
    width: int = 640,
    height: int = 180,
) -> BarChart:
    """Lay out a vertical bar chart; the template draws it as SVG rectangles."""
    top = max((value for _, value in points), default=0) or 1
    slot = width / max(len(points), MIN_SLOTS)  # a lone bar stays bar-sized
    plot_height = height - 30  # room for the labels under the bars
    label_every = -(-len(points) // MAX_LABELS) or 1  # ceiling division
    bars = tuple(
        Bar(
            label=label,
            value=value,
            x=i * slot + slot * 0.1,
            y=plot_height - plot_height * value / top,
            width=slot * 0.8,
            height=plot_height * value / top,
            show_label=i % label_every == 0,
        )
        for i, (label, value) in enumerate(points)
    )
    return BarChart(title, value_label, bars, width, height)


@dataclass(frozen=True)
class Marker:
    """A point drawn on a line chart: ``kind`` picks its style (e.g. ``alarm``)."""

    label: str
    kind: str
    x: float
    y: float


@dataclass(frozen=True)
class LineChart:
    """A laid-out line chart with marked points; ``_line_chart.html`` draws it."""

    title: str
    value_label: str
    path: str
    markers: tuple[Marker, ...]
    y_min: float
    y_max: float
    width: int
    height: int

    @property
    def empty(self) -> bool:
        return not self.path


def line_chart(
    points: list[tuple[float, float]],
    *,
    title: str,
    value_label: str,
    marks: Sequence[tuple[float, str, str]] = (),
    width: int = 640,
    height: int = 200,
) -> LineChart:
    """Lay out ``(x, y)`` points as a polyline; ``marks`` are ``(x, kind, label)`` placed on it.

    A mark's height is the line's value at the nearest point to its ``x``.
    """
    if not points:
        return LineChart(title, value_label, "", (), 0.0, 0.0, width, height)
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    span_x, span_y = (x1 - x0) or 1, (y1 - y0) or 1
    pad = 10

    def place(x: float, y: float) -> tuple[float, float]:
        return (
            round(pad + (x - x0) / span_x * (width - 2 * pad), 2),
            round(height - pad - (y - y0) / span_y * (height - 2 * pad), 2),
        )

    path = " ".join(f"{px},{py}" for px, py in (place(x, y) for x, y in points))
    markers = []
    for x, kind, label in marks:
        nearest = min(points, key=lambda point: abs(point[0] - x))
        px, py = place(nearest[0], nearest[1])
        markers.append(Marker(label, kind, px, py))
    return LineChart(title, value_label, path, tuple(markers), y0, y1, width, height)
