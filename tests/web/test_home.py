"""The dashboard home page, as a person sees it in a browser."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_home_shows_chain_head_and_contracts(live_server, page):
    page.goto(live_server + "/")
    assert page.locator("#chain-id").inner_text() == "31337"
    assert int(page.locator("#head-block").inner_text()) > 0
    contracts = page.locator("#contracts tbody tr")
    assert contracts.count() == 2
    assert "ALTToken" in page.locator("#contracts").inner_text()
    assert "AnchorRegistry" in page.locator("#contracts").inner_text()


def test_home_shows_token_supply_and_holder_chart(live_server, page):
    page.goto(live_server + "/")
    assert page.locator("#token-supply").inner_text() == "42.00 ALT"
    holder_bars = page.locator("figure[aria-label='ALT balance per account'] rect")
    assert holder_bars.count() >= 1
    assert "alice: 42.00 ALT" in holder_bars.first.locator("title").text_content()


def test_home_lists_recent_blocks_newest_first(live_server, page):
    page.goto(live_server + "/")
    numbers = [int(n) for n in page.locator("#blocks tbody tr td:first-child").all_inner_texts()]
    assert numbers == sorted(numbers, reverse=True)
    assert numbers[0] == int(page.locator("#head-block").inner_text())


def test_home_has_a_heading_and_charts_gas_per_block_with_axis_and_values(live_server, page):
    page.goto(live_server + "/")
    assert page.locator("h1").inner_text() == "Chain overview"
    chart = page.locator("figure.chart", has_text="Gas used")
    assert chart.count() == 1
    assert chart.locator("text.tick").count() == 5
    values = chart.locator("text.value").all_text_contents()
    assert values and all(v != "1" for v in values)  # gas, not "1 transaction"
    gas_cells = page.locator("#blocks tbody tr td:nth-child(4)").all_inner_texts()
    assert all(int(cell.replace(",", "")) >= 21_000 for cell in gas_cells if cell != "0")


def test_holder_chart_labels_are_all_readable(live_server, page):
    page.goto(live_server + "/")
    chart = page.locator("figure[aria-label='ALT balance per account']")
    labels = chart.locator("text.label")
    assert labels.count() == chart.locator("rect").count()
    boxes = [labels.nth(i).bounding_box() for i in range(labels.count())]
    for a in boxes:
        for b in boxes:
            if a is not b and abs(a["y"] - b["y"]) < 1:
                assert a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
