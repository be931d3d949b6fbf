"""Bar-chart layout: heights proportional to values, bars inside the canvas."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from ailedger.web.charts import CHAR_WIDTH, LABEL_GAP, bar_chart, compact, text_width


def test_tallest_bar_fills_the_plot_and_others_scale():
    chart = bar_chart([("a", 10), ("b", 5), ("c", 0)], title="t", value_label="v")
    heights = [bar.height for bar in chart.bars]
    assert heights[0] == 2 * heights[1]
    assert heights[2] == 0


def test_bars_stay_inside_the_canvas():
    chart = bar_chart([(str(i), i) for i in range(30)], title="t", value_label="v", width=300)
    assert all(bar.x >= 0 and bar.x + bar.width <= chart.width for bar in chart.bars)


def test_a_single_bar_is_not_stretched_across_the_chart():
    chart = bar_chart([("only", 1)], title="t", value_label="v", width=640)
    assert chart.bars[0].width < 640 / 4


def test_no_points_gives_an_empty_chart():
    assert bar_chart([], title="t", value_label="v").empty


def test_many_bars_label_only_every_few_so_labels_do_not_overlap():
    chart = bar_chart([(f"#{i}", 1) for i in range(48)], title="t", value_label="v")
    labelled = [bar.label for bar in chart.bars if bar.show_label]
    assert labelled[0] == "#0"
    assert len(labelled) <= 12


def test_few_bars_are_all_labelled():
    chart = bar_chart([("a", 1), ("b", 2)], title="t", value_label="v")
    assert all(bar.show_label for bar in chart.bars)


LABELS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=40)
POINTS = st.lists(
    st.tuples(LABELS, st.floats(min_value=0, max_value=1e12, allow_nan=False)), max_size=80
)


def _no_overlap(placed: list[tuple[float, str]]) -> bool:
    return all(
        right_center - left_center >= (text_width(a) + text_width(b)) / 2 + LABEL_GAP - 1e-9
        for (left_center, a), (right_center, b) in itertools.pairwise(placed)
    )


@settings(max_examples=200, deadline=None)
@given(POINTS, st.integers(min_value=240, max_value=1200))
def test_labels_on_one_row_and_values_never_overlap(points, width):
    chart = bar_chart(points, title="t", value_label="v", width=width)
    for row in (0, 1):
        shown = [
            (b.center, b.short_label) for b in chart.bars if b.show_label and b.label_row == row
        ]
        assert _no_overlap(shown)
    assert _no_overlap([(b.center, b.value_text) for b in chart.bars if b.show_value])


def test_chart_has_a_value_axis_from_zero_to_at_least_the_largest_value():
    chart = bar_chart([("a", 730), ("b", 10)], title="t", value_label="gas")
    assert chart.ticks[0].text == "0"
    assert chart.ticks[-1].text == "1k"
    assert chart.bars[0].value_text == "730"


def test_long_labels_are_shortened_with_an_ellipsis_and_kept_whole_in_the_tooltip():
    chart = bar_chart([("a-very-long-account-name", 1)] * 12, title="t", value_label="v")
    bar = chart.bars[0]
    assert bar.short_label.endswith("…") and bar.label == "a-very-long-account-name"
    assert text_width(bar.short_label) <= 2 * (chart.bars[1].x - bar.x) + CHAR_WIDTH


def test_compact_numbers_stay_short():
    assert [compact(v) for v in (0, 950, 1234, 3_400_000, 0.25)] == [
        "0",
        "950",
        "1.23k",
        "3.4M",
        "0.25",
    ]
