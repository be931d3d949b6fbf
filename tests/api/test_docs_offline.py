"""`/docs` and `/redoc` render in a browser with every request off this server blocked."""

from __future__ import annotations

import httpx
import pytest

from tests.web.conftest import deployed_settings, live_server, page  # noqa: F401

pytestmark = pytest.mark.slow


def _block_other_hosts(page, server: str) -> list[str]:  # noqa: F811
    """Abort every request not to ``server``; return those a page needs (not images).

    ReDoc's footer links an optional "powered by" logo on its CDN; without it the
    page is whole, so images do not count.
    """
    blocked: list[str] = []

    def route(handler):
        if handler.request.url.startswith(server):
            handler.continue_()
            return
        if handler.request.resource_type != "image":
            blocked.append(handler.request.url)
        handler.abort()

    page.route("**/*", route)
    return blocked


def test_swagger_ui_lists_the_operations_offline(live_server, page):  # noqa: F811
    blocked = _block_other_hosts(page, live_server)
    page.goto(f"{live_server}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/audit/verify" in paths
    assert "/services/proofs/verify" in paths
    assert blocked == []


def test_redoc_lists_the_operations_offline(live_server, page):  # noqa: F811
    blocked = _block_other_hosts(page, live_server)
    page.goto(f"{live_server}/redoc")
    page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)
    assert page.locator("[data-section-id^='operation/']").count() > 10
    assert blocked == []


def test_favicon_is_served(live_server):  # noqa: F811
    response = httpx.get(f"{live_server}/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
