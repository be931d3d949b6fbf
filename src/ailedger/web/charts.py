"""Small server-side SVG charts, so pages show shapes without a JavaScript build."""

from __future__ import annotations

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
