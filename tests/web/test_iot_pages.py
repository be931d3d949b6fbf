"""The IoT fleet and device pages, as a person sees them in headless Chromium."""

from __future__ import annotations

import pytest

from ailedger.iot.node import open_iot
from ailedger.iot.scenario import run_scenario
from ailedger.iot.transport import LocalTransport
from ailedger.platform import Platform
from ailedger.web.charts import line_chart

pytestmark = [pytest.mark.browser]


@pytest.fixture
def simulated(deployed_settings):
    with Platform.open(deployed_settings) as platform:
        node = open_iot(platform)
        owner = platform.account("fleet-owner", create=True, fund_wei=10**18)
        result = run_scenario(node, LocalTransport(), owner, devices=2, steps=200, seed=5)
        node.close()
    return result


def test_fleet_page_lists_devices_with_counts(simulated, live_server, page):
    page.goto(f"{live_server}/ui/iot")
    assert page.text_content("#device-count") == "3"
    assert int(page.text_content("#accepted-total")) == simulated.outcomes["accepted"]
    revoked = simulated.devices[-1].address
    assert page.text_content(f'tr[data-device="{revoked}"] .status') == "revoked"
    assert page.locator("figure[aria-label='Rejected messages by reason'] rect").count() > 0


def test_device_page_shows_reasons_and_marks_actions_on_the_chart(simulated, live_server, page):
    device = simulated.devices[1].address
    page.goto(f"{live_server}/ui/iot")
    page.click(f'tr[data-device="{device}"] a')
    assert page.text_content("#device-address") == device
    assert page.locator("tr[data-outcome='accepted-reading']").count() == 1
    assert page.locator("polyline.series").count() == 1
    actions = sum(simulated.report.actions.values())
    if actions:
        assert page.locator("circle.marker").count() > 0


def test_unknown_device_page_is_404(live_server, page):
    answer = page.goto(f"{live_server}/ui/iot/devices/0x{'12' * 20}")
    assert answer.status == 404


def test_line_chart_places_marks_on_the_nearest_point():
    chart = line_chart(
        [(1, 0.0), (2, 10.0), (3, 5.0)], title="t", value_label="C", marks=[(2, "alarm", "a")]
    )
    (marker,) = chart.markers
    assert marker.kind == "alarm" and marker.y == 10.0  # the top of the plot (y grows down)
    assert line_chart([], title="t", value_label="C").empty
