"""Bar-chart layout: heights proportional to values, bars inside the canvas."""

from __future__ import annotations

from ailedger.web.charts import bar_chart


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
