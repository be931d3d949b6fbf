"""Checking the code at an address against our sources, as a stranger with chain access would.

Runs on the embedded chain (py-evm), the same EVM `ailedger verify` reads from.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account.signers.local import LocalAccount

from ailedger import contracts
from ailedger.core.chain import EmbeddedChain, deploy, dev_accounts
from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError


@pytest.fixture
def chain(tmp_path) -> Iterator[EmbeddedChain]:
    chain = EmbeddedChain(tmp_path / "chain")
    yield chain
    chain.close()


@pytest.fixture
def deployer() -> LocalAccount:
    return dev_accounts(1)[0]


def _deploy(chain: EmbeddedChain, deployer: LocalAccount, name: str, *args: object) -> str:
    artifact = contracts.load(name)
    return deploy(chain, artifact.abi, artifact.bytecode, *args, sender=deployer).address


def _deploy_raw(chain: EmbeddedChain, deployer: LocalAccount, code: bytes) -> str:
    """Deploy init code that leaves exactly ``code`` at the new address."""
    # PUSH2 len, DUP1, PUSH1 12, PUSH1 0, CODECOPY, PUSH1 0, RETURN: copies what follows
    # these 12 bytes of init code to memory and returns it as the contract's code.
    init = bytes.fromhex(f"61{len(code):04x}80600c6000396000f3") + code
    receipt = chain.transact(deployer, None, init)
    assert receipt.contract_address is not None
    assert chain.code(receipt.contract_address) == code
    return receipt.contract_address


def test_deployed_code_is_the_runtime_code_followed_by_the_immutables(chain, deployer):
    artifact = contracts.load("AnchorRegistry")
    address = _deploy(chain, deployer, "AnchorRegistry")
    code = chain.code(address)
    assert code[: len(artifact.bytecode_runtime)] == artifact.bytecode_runtime
    immutables = code[len(artifact.bytecode_runtime) :]
    assert len(immutables) == artifact.immutables_size
    # Among them snekmate's cached chain id and own address (32-byte words 1 and 2).
    assert int.from_bytes(immutables[32:64]) == chain.chain_id
    assert immutables[76:96] == bytes.fromhex(address[2:])


def _deploy_model_registry(chain: EmbeddedChain, deployer: LocalAccount) -> tuple[str, str]:
    """A ModelRegistry and the AnchorRegistry its model logs live in (its one immutable)."""
    anchors = _deploy(chain, deployer, "AnchorRegistry")
    return _deploy(chain, deployer, "ModelRegistry", anchors), anchors


@pytest.mark.parametrize("name", ["ALTToken", "AnchorRegistry"])
def test_deployed_code_predicts_a_real_deployment_byte_for_byte(chain, deployer, name):
    address = _deploy(chain, deployer, name)
    assert contracts.deployed_code(name, chain.chain_id, address) == chain.code(address)


def test_deployed_code_predicts_a_model_registry_with_its_anchor_registry(chain, deployer):
    address, anchors = _deploy_model_registry(chain, deployer)
    predicted = contracts.deployed_code("ModelRegistry", chain.chain_id, address, anchors)
    assert predicted == chain.code(address)


def test_deployed_code_depends_on_the_address_and_the_chain(chain, deployer):
    address = _deploy(chain, deployer, "AnchorRegistry")
    here = contracts.deployed_code("AnchorRegistry", chain.chain_id, address)
    assert contracts.deployed_code("AnchorRegistry", chain.chain_id, "0x" + "42" * 20) != here
    assert contracts.deployed_code("AnchorRegistry", 1, address) != here


def test_deployed_code_of_a_contract_with_constructor_arguments(chain, deployer):
    token = _deploy(chain, deployer, "ALTToken")
    registry, _ = _deploy_model_registry(chain, deployer)
    channels = _deploy(chain, deployer, "PaymentChannels", token, registry)
    contracts.check_deployed_code(chain, "PaymentChannels", channels, token, registry)
    with pytest.raises(IntegrityError, match="other immutables"):
        contracts.check_deployed_code(chain, "PaymentChannels", channels, registry, token)


def test_deployed_code_with_missing_constructor_arguments_is_invalid_input(chain):
    with pytest.raises(InvalidInputError, match="PaymentChannels constructor: expected 2"):
        contracts.deployed_code("PaymentChannels", chain.chain_id, "0x" + "42" * 20)


def test_deployed_code_with_arguments_the_constructor_rejects_is_invalid_input(chain):
    zero = "0x" + "00" * 20
    with pytest.raises(InvalidInputError, match="DataMarket constructor: reverted with arguments"):
        contracts.deployed_code("DataMarket", chain.chain_id, "0x" + "42" * 20, zero, zero, 0, 0, 0)


def test_deployed_code_for_a_malformed_address_is_invalid_input(chain):
    with pytest.raises(InvalidInputError, match="address"):
        contracts.deployed_code("AnchorRegistry", chain.chain_id, "0x1234")


def test_deployed_registry_passes_the_check(chain, deployer):
    address = _deploy(chain, deployer, "AnchorRegistry")
    contracts.check_deployed_code(chain, "AnchorRegistry", address)


def test_another_of_our_contracts_is_not_the_anchor_registry(chain, deployer):
    token = _deploy(chain, deployer, "ALTToken")
    expected = len(contracts.load("AnchorRegistry").bytecode_runtime) + 320
    with pytest.raises(
        IntegrityError,
        match=rf"the code at {token} is not the AnchorRegistry: expected {expected} bytes .*"
        rf"got {len(chain.code(token))} bytes$",
    ):
        contracts.check_deployed_code(chain, "AnchorRegistry", token)


def test_address_without_code_is_not_the_anchor_registry(chain):
    empty = "0x" + "42" * 20
    with pytest.raises(IntegrityError, match=r"is not the AnchorRegistry: .*got no code at all"):
        contracts.check_deployed_code(chain, "AnchorRegistry", empty)


def test_runtime_code_with_one_byte_changed_is_rejected(chain, deployer):
    genuine = chain.code(_deploy(chain, deployer, "AnchorRegistry"))
    forged = bytearray(genuine)
    forged[100] ^= 0xFF
    address = _deploy_raw(chain, deployer, bytes(forged))
    with pytest.raises(IntegrityError, match="runtime code differs from byte 100 on"):
        contracts.check_deployed_code(chain, "AnchorRegistry", address)


def test_runtime_code_with_an_immutables_section_of_another_size_is_rejected(chain, deployer):
    genuine = chain.code(_deploy(chain, deployer, "AnchorRegistry"))
    address = _deploy_raw(chain, deployer, genuine + bytes(32))
    with pytest.raises(IntegrityError, match=rf"got {len(genuine) + 32} bytes$"):
        contracts.check_deployed_code(chain, "AnchorRegistry", address)


def test_genuine_runtime_code_with_forged_immutables_is_rejected(chain, deployer):
    # A copy of a real registry's code keeps that registry's cached address and domain
    # separator: not what the constructor would have set at the copy's address.
    genuine = chain.code(_deploy(chain, deployer, "AnchorRegistry"))
    address = _deploy_raw(chain, deployer, genuine)
    with pytest.raises(IntegrityError, match=r"other immutables \(from byte 0 of them on\)"):
        contracts.check_deployed_code(chain, "AnchorRegistry", address)


def test_checking_against_an_unknown_contract_is_not_found(chain, deployer):
    address = _deploy(chain, deployer, "AnchorRegistry")
    with pytest.raises(NotFoundError, match="unknown contract 'Nope'"):
        contracts.check_deployed_code(chain, "Nope", address)
