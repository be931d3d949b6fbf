"""A live server on a free port and a headless Chromium page (Debian's chromium via Playwright)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest
import uvicorn

from ailedger.api import create_app
from ailedger.platform import Platform

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def deployed_settings(settings):
    """A data dir whose chain has the core contracts and a minted demo account."""
    with Platform.open(settings) as platform:
        platform.deploy_core_contracts()
        alice = platform.account("alice", create=True)
        platform.contract("ALTToken").mint(alice.address, 42 * 10**18, sender=platform.operator)
    return settings


@pytest.fixture
def live_server(deployed_settings):
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(deployed_settings), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the API server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"chromium not found at {CHROMIUM} (required in CI)")
        pytest.skip(f"chromium not found at {CHROMIUM}; run scripts/ensure-system-deps.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        yield page
        browser.close()
