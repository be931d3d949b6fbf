"""The composition root: core contracts deployed once, then reused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ailedger.core.chain.anvil import find_anvil, free_port, run_anvil
from ailedger.errors import ChainError, NotFoundError
from ailedger.platform import Platform


def test_core_contracts_are_deployed_then_reused(settings):
    with Platform.open(settings) as platform:
        first = platform.deploy_core_contracts()
    with Platform.open(settings) as platform:
        second = platform.deploy_core_contracts()
    assert [c.reused for c in first] == [False, False]
    assert [c.reused for c in second] == [True, True]
    assert [c.address for c in first] == [c.address for c in second]


def test_contract_lookup_before_deployment_names_the_contract(settings):
    with Platform.open(settings) as platform, pytest.raises(NotFoundError, match="ALTToken"):
        platform.contract("ALTToken")


def test_status_reports_token_supply_after_minting(settings):
    with Platform.open(settings) as platform:
        platform.deploy_core_contracts()
        alice = platform.account("alice", create=True)
        platform.contract("ALTToken").mint(alice.address, 7 * 10**18, sender=platform.operator)
        status = platform.status()
    assert status.token_supply == 7 * 10**18
    assert status.token_symbol == "ALT"
    assert set(status.contracts) == {"ALTToken", "AnchorRegistry"}


def test_account_without_password_is_a_clear_error(settings):
    no_password = settings.model_copy(update={"password": None})
    with Platform.open(no_password) as platform, pytest.raises(NotFoundError, match="PASSWORD"):
        platform.account("alice", create=True)


def _anvil_or_skip() -> None:
    if find_anvil() is None:
        message = "anvil not found; run scripts/ensure-system-deps.sh"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (required in CI)")
        pytest.skip(message)


def test_restarted_anvil_is_refused_in_one_line_naming_the_url(settings):
    _anvil_or_skip()
    port = free_port()
    with run_anvil(port=port, genesis_timestamp=1_700_000_000) as url:
        on_anvil = settings.model_copy(update={"chain_url": url})
        with Platform.open(on_anvil) as platform:
            platform.deploy_core_contracts()
        with Platform.open(on_anvil):  # the same chain: fine
            pass
    # anvil restarted (a new genesis); the URL may be the same, the chain is not.
    with run_anvil(genesis_timestamp=1_700_000_100) as url:
        on_restarted = settings.model_copy(update={"chain_url": url})
        with pytest.raises(ChainError) as caught:
            Platform.open(on_restarted)
        message = caught.value.message
        assert message.startswith("this data dir belongs to a chain that no longer exists at")
        assert url in message and "use a new AILEDGER_HOME" in message
        assert "\n" not in message
        env = {k: v for k, v in os.environ.items() if not k.startswith("AILEDGER_")}
        env.update(AILEDGER_HOME=str(settings.home), AILEDGER_CHAIN_URL=url)
        done = subprocess.run(
            [sys.executable, "-m", "ailedger.cli", "chain", "status"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert done.returncode == 1
        assert "no longer exists" in done.stderr and len(done.stderr.strip().splitlines()) == 1
