"""`ailedger serve` as a real process: no request of any shape may end it.

Each test sends one hostile body to one route of a running server, then checks the
process is alive and still answers ``/health``. Before the recursion limit was
capped, a JSON body nested 100,000 deep killed the server with SIGSEGV.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from ailedger.config import Settings
from ailedger.platform import Platform
from tests.serving import assert_alive, free_port, start_server

pytestmark = pytest.mark.slow

DEEP = 100_000
BODY_LIMIT = 1024 * 1024  # above the 600 kB a 100,000-deep form field takes

JSON_ROUTES = [
    "/audit/decisions",
    "/audit/verify",
    "/services/proofs/verify",
    "/market/gate",
    "/market/listings/0/active",
    "/market/compute-jobs",
]


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[tuple[subprocess.Popen, str]]:
    home = tmp_path_factory.mktemp("serve") / "home"
    values = {
        "AILEDGER_HOME": str(home),
        "AILEDGER_KEYSTORE_SCRYPT_N": "16",
        "AILEDGER_PASSWORD": "serve-password",
        "AILEDGER_API_TOKEN": "s3cret",
        "AILEDGER_MAX_BODY_BYTES": str(BODY_LIMIT),
    }
    with Platform.open(Settings(**{k[9:].lower(): v for k, v in values.items()})) as platform:
        platform.deploy_core_contracts()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server({**os.environ, **values}, ["serve", "--port", str(port)], url)
    yield process, url
    process.kill()
    process.wait(timeout=30)


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_deeply_nested_json_is_a_400_and_the_server_lives(api, route):
    process, url = api
    response = httpx.post(
        url + route,
        content="[" * DEEP + "]" * DEEP,
        headers={"content-type": "application/json", "authorization": "Bearer s3cret"},
        timeout=30,
    )
    assert response.status_code == 400
    assert "nested deeper than 64" in response.json()["message"]
    assert_alive(process, url)


def test_deeply_nested_bundle_in_the_verify_form_is_refused_and_the_server_lives(api):
    process, url = api
    response = httpx.post(
        url + "/ui/audit/verify", data={"bundle": "[" * DEEP + "]" * DEEP}, timeout=30
    )
    assert response.status_code == 400
    assert "nested deeper than 64" in response.json()["message"]
    assert_alive(process, url)


@pytest.mark.parametrize("route", [*JSON_ROUTES, "/ui/audit/verify", "/no/such/route"])
def test_body_over_the_limit_is_a_413_naming_the_limit(api, route):
    process, url = api
    response = httpx.post(
        url + route,
        content=b"[" + b"1," * BODY_LIMIT + b"1]",
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert f"{BODY_LIMIT} bytes" in response.json()["message"]
    assert_alive(process, url)


def test_chunked_body_over_the_limit_is_a_413(api):
    process, url = api

    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(BODY_LIMIT // 1024 + 1):
            yield b"1," * 512
        yield b"1]"

    response = httpx.post(
        url + "/market/gate",
        content=chunks(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert_alive(process, url)


def test_serve_with_a_token_but_no_password_fails_at_start_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "AILEDGER_PASSWORD"}
    env.update(AILEDGER_HOME=str(tmp_path / "home"), AILEDGER_API_TOKEN="s3cret")
    done = subprocess.run(
        [sys.executable, "-c", "from ailedger.cli.main import main; main()", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "AILEDGER_API_TOKEN is set but AILEDGER_PASSWORD is not" in line
