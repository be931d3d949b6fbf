"""Real server processes for tests: ``ailedger serve`` and ``ailedger services serve``."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

CLI = "import sys; from ailedger.cli.main import app; app(sys.argv[1:])"


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    env: dict[str, str], argv: list[str], url: str, *, program: str = CLI
) -> subprocess.Popen:
    """Start ``ailedger <argv>`` with ``env`` and wait until ``url/health`` answers.

    ``program`` is the Python source that runs the CLI (a test may wrap it).
    """
    process = subprocess.Popen(
        [sys.executable, "-c", program, *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{argv} exited: {process.stdout.read().decode()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"{argv} did not answer /health within 60 s")


def assert_alive(process: subprocess.Popen, url: str) -> None:
    """The process still runs and answers ``/health``."""
    assert process.poll() is None, f"the server died with status {process.returncode}"
    assert httpx.get(f"{url}/health", timeout=10).json()["status"] == "ok"
