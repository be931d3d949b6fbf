"""The services dashboard page, as a person sees it in headless Chromium.

The services scenario of the demo runs once per module (two models, a few hundred
paid calls, one claim each); one server serves every test, and the page only reads.
"""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest
import uvicorn
from rich.console import Console

from ailedger.api import create_app
from ailedger.api import services as services_api
from ailedger.config import Settings
from ailedger.platform import Platform
from ailedger.services.scenario import run_services_scenario
from ailedger.web import services as services_web

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def summary_and_server(tmp_path_factory):
    settings = Settings(
        home=tmp_path_factory.mktemp("services-page") / "home",
        keystore_scrypt_n=2**4,
        password="test-password",
    )
    with Platform.open(settings) as platform:
        summary = run_services_scenario(platform, Console(file=io.StringIO()))
    app = create_app(settings)
    # Included here so the test does not depend on the app's wiring order.
    app.include_router(services_api.router)
    app.include_router(services_web.router)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the API server did not start")
        time.sleep(0.05)
    yield summary, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_page_lists_both_services_with_their_calls(summary_and_server, page):
    summary, url = summary_and_server
    page.goto(url + "/ui/services")
    assert page.locator("#service-count").inner_text() == "2"
    rows = page.locator("#services tbody tr")
    assert rows.count() == 2
    by_name = {run.name: run for run in summary.services}
    for i in range(2):
        row = rows.nth(i)
        name = row.locator("td").first.inner_text()
        assert row.locator(".calls").inner_text() == str(by_name[name].calls)
        assert row.locator(".status").inner_text() == "active"


def test_page_counts_every_paid_call(summary_and_server, page):
    summary, url = summary_and_server
    page.goto(url + "/ui/services")
    assert page.locator("#call-count").inner_text() == str(summary.calls)


def test_page_shows_channels_claimed_up_to_the_accepted_voucher(summary_and_server, page):
    _, url = summary_and_server
    page.goto(url + "/ui/services")
    channels = page.locator("#channels tbody tr")
    assert channels.count() == 2
    for i in range(2):
        row = channels.nth(i)
        assert row.locator(".claimed").inner_text() == row.locator(".accepted").inner_text()
        assert int(row.locator(".calls").inner_text()) > 0


def test_page_shows_the_owners_earnings(summary_and_server, page):
    summary, url = summary_and_server
    page.goto(url + "/ui/services")
    total = sum(run.claimed for run in summary.services) / 10**18
    assert page.locator("#claimed-total").inner_text() == f"{total:,.2f} ALT"
    assert summary.owner in page.locator("#earnings").inner_text()


def test_page_charts_calls_per_service(summary_and_server, page):
    _, url = summary_and_server
    page.goto(url + "/ui/services")
    bars = page.locator("figure[aria-label='Paid calls per service'] rect")
    assert bars.count() == 2
