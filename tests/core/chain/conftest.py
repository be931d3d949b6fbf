"""Fixtures for the chain suite: both chain implementations, anvil, and a tiny token.

``chain`` is parametrized over ``embedded`` (a fresh EmbeddedChain in a temp dir)
and ``anvil`` (RpcChain against Foundry's anvil, one process per test session).
Tests that use it are the shared specification both implementations must meet.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import vyper
from eth_account.signers.local import LocalAccount

from ailedger.core.chain import Chain, Contract, EmbeddedChain, RpcChain, deploy, dev_accounts
from ailedger.core.chain.anvil import ANVIL_IN_REPO, find_anvil, run_anvil

TOKEN_SOURCE = """
# pragma version ~=0.4.3
event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Note:
    author: indexed(address)
    text: String[64]

balanceOf: public(HashMap[address, uint256])
totalSupply: public(uint256)
owner: public(address)

@deploy
def __init__(supply: uint256):
    self.owner = msg.sender
    self.balanceOf[msg.sender] = supply
    self.totalSupply = supply
    log Transfer(sender=empty(address), receiver=msg.sender, value=supply)

@external
def transfer(to: address, amount: uint256) -> bool:
    assert self.balanceOf[msg.sender] >= amount, "insufficient token balance"
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[to] += amount
    log Transfer(sender=msg.sender, receiver=to, value=amount)
    return True

@external
def note(text: String[64]):
    log Note(author=msg.sender, text=text)

@external
@payable
def deposit():
    pass

@external
@view
def info(who: address) -> (uint256, address):
    return self.balanceOf[who], self.owner

@external
@view
def divide(a: uint256, b: uint256) -> uint256:
    return a // b

@external
@view
def scaled(a: uint256, factor: uint256 = 10) -> uint256:
    return a * factor
"""

INITIAL_SUPPLY = 10**24


@dataclass(frozen=True)
class Compiled:
    abi: list[dict[str, Any]]
    bytecode: bytes


@pytest.fixture(scope="session")
def token_code() -> Compiled:
    """The test token, compiled once per session."""
    out = vyper.compile_code(TOKEN_SOURCE, output_formats=["abi", "bytecode"])
    return Compiled(abi=out["abi"], bytecode=bytes.fromhex(out["bytecode"].removeprefix("0x")))


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """anvil on a free loopback port for the whole session, stopped afterwards.

    Missing binary: skip locally (run scripts/ensure-system-deps.sh), fail in CI.
    """
    if find_anvil() is None:
        message = f"anvil not found at {ANVIL_IN_REPO}; run scripts/ensure-system-deps.sh"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (required in CI)")
        pytest.skip(message)
    with run_anvil(chain_id=31337) as url:
        yield url


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.slow)])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    """Each implementation of ``Chain`` in turn."""
    if request.param == "embedded":
        instance: Chain = EmbeddedChain(tmp_path / "chain")
    else:
        instance = RpcChain(request.getfixturevalue("anvil_url"))
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture
def accounts() -> list[LocalAccount]:
    return dev_accounts(10)


@pytest.fixture
def token(chain: Chain, token_code: Compiled, accounts: list[LocalAccount]) -> Contract:
    """A freshly deployed test token; accounts[0] holds the whole supply."""
    return deploy(chain, token_code.abi, token_code.bytecode, INITIAL_SUPPLY, sender=accounts[0])
