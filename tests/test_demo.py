"""`ailedger demo` runs end to end and, run twice, reuses what it deployed."""

from __future__ import annotations

import pytest
from rich.console import Console

from ailedger.demo import run_demo

pytestmark = pytest.mark.slow


def _run(settings) -> str:
    console = Console(record=True, width=200)
    run_demo(settings, console)
    return console.export_text()


def test_demo_twice_reuses_the_deployed_contracts(settings):
    first, second = _run(settings), _run(settings)
    for name in ("ALTToken", "AnchorRegistry"):
        assert "deployed" in _row(first, name)
        assert "reused" in _row(second, name)


def _row(output: str, contract: str) -> str:
    return next(line for line in output.splitlines() if contract in line)
