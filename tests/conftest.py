"""Shared fixtures: an isolated data dir per test and service availability checks."""

from __future__ import annotations

import os
import socket

import pytest

from ailedger.config import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings on a fresh data dir, with a cheap scrypt cost so keystore tests stay fast."""
    return Settings(home=tmp_path / "home", keystore_scrypt_n=2**4, password="test-password")


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a local service is missing, except in CI where it must be there."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError:
        message = f"{name} is not reachable on {host}:{port}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (required in CI)")
        pytest.skip(f"{message}; start {name} to run this test")
