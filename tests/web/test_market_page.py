"""The marketplace page, as a person sees it in a browser, after the patient-pool scenario."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest
import uvicorn

from ailedger.api import create_app
from ailedger.market.scenario import run_patient_market
from ailedger.platform import Platform
from ailedger.web import market as market_web
from tests.web.conftest import _free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def scenario(deployed_settings):
    with Platform.open(deployed_settings) as platform:
        return run_patient_market(platform, n_patients=36)


@contextmanager
def _serve(settings):
    app = create_app(settings)
    # Until api/app.py includes the page's router, include it here; afterwards a no-op.
    if not any(getattr(route, "path", None) == "/market" for route in app.routes):
        app.include_router(market_web.router)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def market_server(deployed_settings, scenario):
    with _serve(deployed_settings) as url:
        yield url


@pytest.fixture
def bare_server(deployed_settings):
    """Core contracts only: no DataMarket deployed."""
    with _serve(deployed_settings) as url:
        yield url


def test_market_page_lists_the_pool_listing_with_its_gate_result(market_server, page, scenario):
    page.goto(market_server + "/market")
    assert page.locator("#market-address").inner_text() == scenario.market
    rows = page.locator("#listings tbody tr")
    assert rows.count() == 1
    assert "Breast biopsy pool" in rows.first.inner_text()
    assert "passed" in rows.first.inner_text()
    assert "active" in rows.first.inner_text()


def test_market_page_shows_the_pool_and_both_sales(market_server, page, scenario):
    page.goto(market_server + "/market")
    assert page.locator("#pools tbody tr td:nth-child(3)").inner_text() == str(scenario.patients)
    kinds = page.locator("#purchases tbody tr td:nth-child(4)").all_inner_texts()
    assert kinds == ["access", "compute"]
    assert page.locator("#purchase-count").inner_text() == "2"


def test_market_page_charts_every_contributors_earnings(market_server, page, scenario):
    page.goto(market_server + "/market")
    bars = page.locator(
        f"figure[aria-label='ALT earned per contributor, pool {scenario.pool_id}'] rect"
    )
    assert bars.count() == scenario.patients
    first = scenario.earnings[0].withdrawn / 10**18
    assert f"#1: {first:,.2f} ALT" in bars.first.locator("title").text_content()
    assert page.locator("#contributors tbody tr").count() == scenario.patients


def test_market_page_for_an_unknown_pool_says_so_with_a_404(market_server, page, scenario):
    response = page.goto(market_server + "/market?pool=99")
    assert response.status == 404
    assert "Pool 99 does not exist" in page.locator("#pool-missing").inner_text()
    assert page.locator("#listings tbody tr").count() == 1


def test_market_page_without_a_market_says_so(bare_server, page):
    page.goto(bare_server + "/market")
    assert "not deployed" in page.locator("#market-missing").inner_text()


def test_market_page_has_a_heading_and_marks_the_pool_it_shows(market_server, page, scenario):
    page.goto(market_server + "/market")
    assert page.locator("h1").inner_text() == "Data market"
    selected = page.locator("#pools tbody tr.selected")
    assert selected.count() == 1
    assert selected.get_attribute("data-pool-id") == str(scenario.pool_id)
    assert selected.get_attribute("aria-current") == "true"
    assert "shown below" in page.locator("#selected-pool").inner_text()
    heading = page.locator("h2", has_text="Contributors of pool")
    assert heading.inner_text() == f"Contributors of pool {scenario.pool_id}"


def test_market_earnings_chart_has_an_axis_and_values(market_server, page, scenario):
    page.goto(market_server + "/market")
    title = f"ALT earned per contributor, pool {scenario.pool_id}"
    chart = page.locator(f"figure[aria-label='{title}']")
    assert chart.locator("text.tick").count() == 5
    assert chart.locator("text.value").count() >= 1
