"""`ailedger services serve` and `services call` as real processes against each other."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from ailedger.config import Settings
from ailedger.platform import Platform
from ailedger.services import service_contracts
from tests.services.test_serve_process import env, port, server  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow

CONCURRENT = 4
CALL = [sys.executable, "-m", "ailedger.cli", "services", "call", "diagnosis"]


def test_concurrent_calls_by_one_new_account_all_succeed_on_one_channel(env, server):  # noqa: F811
    with Platform.open(Settings()) as platform:
        newcomer = platform.account("newcomer", create=True, fund_wei=10**19)
        contracts = service_contracts(platform)
        contracts.token.mint(newcomer.address, 10**19, sender=platform.operator)
    # All start before any opens a channel: each would sign a permit with nonce 0.
    calls = [
        subprocess.Popen(
            [*CALL, "--account", "newcomer", "--example", str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(CONCURRENT)
    ]
    results = [(call.wait(timeout=300), *call.communicate()) for call in calls]
    assert [code for code, _, _ in results] == [0] * CONCURRENT, results
    with Platform.open(Settings()) as platform:
        opened = service_contracts(platform).channels.opened(consumer=newcomer.address)
    assert len(opened) == 1


def test_serve_prints_each_call_and_each_claim(env, port, server):  # noqa: F811
    called = subprocess.run([*CALL, "--example", "1"], env=env, capture_output=True, text=True)
    assert called.returncode == 0, called.stderr
    server.send_signal(signal.SIGTERM)  # serve claims every voucher on shutdown
    server.wait(timeout=60)
    printed = server.stdout.read().decode()
    assert f"serving diagnosis on http://127.0.0.1:{port}" in printed
    assert "1 call(s) on channel" in printed and "voucher 1, 0.01 ALT so far" in printed
    assert "claimed 0.01 ALT" in printed
