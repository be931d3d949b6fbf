"""The registry cache follows the DeviceRegistry on a JSON-RPC chain (anvil) too."""

from __future__ import annotations

import os

import pytest
from eth_account import Account

from ailedger.core.chain import AddressBook, RpcChain, dev_accounts
from ailedger.core.chain.anvil import find_anvil, run_anvil
from ailedger.iot import DeviceStatus, RegistryCache, ensure_device_registry

pytestmark = pytest.mark.slow


@pytest.fixture
def rpc_chain():
    # As the chain suite's anvil fixture (a conftest cannot be shared as a plugin here).
    if find_anvil() is None:
        (pytest.fail if os.environ.get("CI") else pytest.skip)("anvil not found")
    with run_anvil(chain_id=31337) as url:
        chain = RpcChain(url)
        yield chain
        chain.close()


def test_cache_follows_events_on_anvil_and_resumes_after_reopening(rpc_chain, tmp_path):
    owner = dev_accounts(2)[1]
    registry = ensure_device_registry(rpc_chain, AddressBook(tmp_path / "book.json"), owner)
    device = Account.from_key(b"\x61" * 32).address
    registry.register(owner, device, owner.address, "reefer-truck", b"\x02" * 32)
    cache = RegistryCache(registry, tmp_path / "cache.sqlite3")
    assert cache.sync() == 1
    assert cache.get(device).status is DeviceStatus.ACTIVE
    cache.close()
    registry.suspend(owner, device)
    reopened = RegistryCache(registry, tmp_path / "cache.sqlite3")
    assert reopened.get(device).status is DeviceStatus.ACTIVE  # as persisted
    assert reopened.sync() == 1
    assert reopened.get(device).status is DeviceStatus.SUSPENDED
    reopened.close()
