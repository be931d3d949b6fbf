"""Small server-side SVG charts, so pages show shapes without a JavaScript build.

A chart carries its own reading aids: a value axis with ticks, the value of each
labelled bar printed above it, and category labels spaced (and shortened) so
that no two overlap. Hover tooltips still give every bar's exact value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIN_SLOTS = 8
MAX_LABELS = 12  # never more category labels than this, however wide the chart
MAX_LABEL_CHARS = 14  # longer labels are shortened with "…" (the tooltip has them whole)
CHAR_WIDTH = 6.5  # SVG units per character at the 11px label font, a little generous
LABEL_GAP = 4.0  # at least this much space between neighbouring labels
AXIS_WIDTH = 52.0  # room left of the plot for tick values
TOP_MARGIN = 16.0  # room above the tallest bar for its value
BOTTOM_MARGIN = 30.0  # room under the bars for the category labels
TICKS = 4


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
    short_label: str = ""
    value_text: str = ""
    show_value: bool = True
    label_row: int = 0  # labels alternate between two rows, doubling their room

    @property
    def center(self) -> float:
        """Where the bar's label and value are centred."""
        return self.x + self.width / 2


@dataclass(frozen=True)
class Tick:
    """One value-axis tick: its value as text and its height in SVG units."""

    text: str
    y: float


@dataclass(frozen=True)
class BarChart:
    """A laid-out bar chart; ``_bar_chart.html`` draws it."""

    title: str
    value_label: str
    bars: tuple[Bar, ...]
    width: int
    height: int
    ticks: tuple[Tick, ...] = ()
    plot_left: float = AXIS_WIDTH
    plot_bottom: float = 0.0

    @property
    def empty(self) -> bool:
        """Whether there is nothing to draw (the template then says so)."""
        return not self.bars


def compact(value: float) -> str:
    """``value`` in at most about six characters: 950, 1.2k, 3.4M, 0.25."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    if magnitude == 0 or magnitude >= 1:
        return f"{value:.3g}" if magnitude < 100 else f"{value:.0f}"
    return f"{value:.2g}"


def text_width(text: str) -> float:
    """Estimated width of ``text`` in the chart's label font."""
    return len(text) * CHAR_WIDTH


def bar_chart(
    points: list[tuple[str, float]],
    *,
    title: str,
    value_label: str,
    width: int = 640,
    height: int = 200,
) -> BarChart:
    """Lay out a vertical bar chart with a value axis; the template draws it as SVG."""
    top = _nice_top(max((value for _, value in points), default=0))
    plot_width = width - AXIS_WIDTH - 4
    plot_bottom = height - BOTTOM_MARGIN
    plot_height = plot_bottom - TOP_MARGIN
    slot = plot_width / max(len(points), MIN_SLOTS)  # a lone bar stays bar-sized
    label_every = max(1, math.ceil(len(points) / MAX_LABELS))
    # Shown labels alternate rows, so a label has the room of two label steps.
    room = 2 * label_every * slot - LABEL_GAP
    shorts = [_shorten(label, max(1, int(room // CHAR_WIDTH))) for label, _ in points]
    values = [compact(value) for _, value in points]
    widest_value = max((text_width(v) for v in values), default=0)
    value_every = max(1, math.ceil((widest_value + LABEL_GAP) / slot))
    bars = tuple(
        Bar(
            label=label,
            value=value,
            x=AXIS_WIDTH + i * slot + slot * 0.1,
            y=plot_bottom - plot_height * value / top,
            width=slot * 0.8,
            height=plot_height * value / top,
            show_label=i % label_every == 0,
            short_label=shorts[i],
            value_text=values[i],
            show_value=i % value_every == 0,
            label_row=(i // label_every) % 2,
        )
        for i, (label, value) in enumerate(points)
    )
    ticks = tuple(
        Tick(compact(top * k / TICKS), plot_bottom - plot_height * k / TICKS)
        for k in range(TICKS + 1)
    )
    return BarChart(title, value_label, bars, width, height, ticks, AXIS_WIDTH, plot_bottom)


def _shorten(label: str, fits: int) -> str:
    limit = min(MAX_LABEL_CHARS, fits)
    return label if len(label) <= limit else label[: max(1, limit - 1)] + "…"


def _nice_top(value: float) -> float:
    """The axis maximum: ``value`` rounded up to 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-12):
            return step * power
    return 10 * power


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
