"""`ailedger chain status` and `ailedger demo` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _ailedger(settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "AILEDGER_HOME": str(settings.home),
        "AILEDGER_KEYSTORE_SCRYPT_N": "16",
        "AILEDGER_PASSWORD": "test-password",
        "COLUMNS": "200",
        **env,
    }
    if "AILEDGER_CHAIN_URL" not in env:
        environment.pop("AILEDGER_CHAIN_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "ailedger.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


def test_chain_status_on_a_fresh_data_dir_shows_the_dev_chain(settings):
    result = _ailedger(settings, "chain", "status")
    assert result.returncode == 0, result.stderr
    assert "Chain 31337" in result.stdout
    assert "head block" in result.stdout


def test_chain_status_with_unreachable_rpc_url_names_the_url(settings):
    result = _ailedger(settings, "chain", "status", AILEDGER_CHAIN_URL="http://127.0.0.1:9")
    assert result.returncode == 1
    assert "http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_then_chain_status_shows_contracts_and_supply(settings):
    demo = _ailedger(settings, "demo")
    assert demo.returncode == 0, demo.stderr
    status = _ailedger(settings, "chain", "status")
    assert "ALTToken" in status.stdout
    assert "AnchorRegistry" in status.stdout
    assert "ALT supply" in status.stdout


def test_unknown_subcommand_exits_non_zero(settings):
    result = _ailedger(settings, "no-such-command")
    assert result.returncode == 2
