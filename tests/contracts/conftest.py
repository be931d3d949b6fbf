"""Contract tests run the compiled artifacts (what the platform deploys) on titanoboa's EVM.

Each test gets a fresh EVM state: everything a test does is rolled back by
``boa.env.anchor()`` when it ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import boa
import pytest
from boa.contracts.abi.abi_contract import ABIContract
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ailedger import contracts


@pytest.fixture(autouse=True)
def _fresh_evm() -> Iterator[None]:
    with boa.env.anchor():
        yield


@pytest.fixture
def deployer() -> str:
    address = boa.env.generate_address("deployer")
    boa.env.eoa = address
    return address


@pytest.fixture
def deploy(deployer: str) -> Callable[[str], ABIContract]:
    """Deploy a contract's cached artifact from ``deployer`` and wrap it with its ABI."""

    def _deploy(name: str) -> ABIContract:
        artifact = contracts.load(name)
        address, _ = boa.env.deploy_code(bytecode=artifact.bytecode, sender=deployer)
        return boa.loads_abi(json.dumps(artifact.abi), name=name).at(address)

    return _deploy


@pytest.fixture
def chain_id() -> int:
    return boa.env.evm.patch.chain_id


@pytest.fixture
def alice() -> LocalAccount:
    """An account with a private key, for tests that need signatures."""
    return Account.from_key(b"\x01" * 32)


@pytest.fixture
def bob() -> LocalAccount:
    return Account.from_key(b"\x02" * 32)


@pytest.fixture
def mallory() -> LocalAccount:
    return Account.from_key(b"\x03" * 32)
