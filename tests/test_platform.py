"""The composition root: core contracts deployed once, then reused."""

from __future__ import annotations

import pytest

from ailedger.errors import NotFoundError
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
