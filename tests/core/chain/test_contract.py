"""The Contract wrapper: argument checking, dispatch, events (on the embedded chain)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_abi import encode

from ailedger.core.chain import Chain, Contract, EmbeddedChain, LogEntry, deploy
from ailedger.errors import InvalidInputError


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    """Wrapper behaviour does not depend on the chain: the embedded one is enough."""
    with EmbeddedChain(tmp_path / "chain") as instance:
        yield instance


def test_wrong_argument_type_names_function_and_argument(token: Contract) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        token.balanceOf(12)
    assert excinfo.value.field == "balanceOf.arg0"


def test_wrong_uint_names_the_argument(token: Contract, accounts) -> None:
    head = token.chain.block_number()
    with pytest.raises(InvalidInputError, match="uint256") as excinfo:
        token.transfer(accounts[1].address, -5, sender=accounts[0])
    assert excinfo.value.field == "transfer.amount"
    assert token.chain.block_number() == head


def test_bool_is_not_accepted_as_an_integer(token: Contract, accounts) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        token.transfer(accounts[1].address, True, sender=accounts[0])
    assert excinfo.value.field == "transfer.amount"


def test_bad_checksum_argument_names_the_argument(token: Contract, accounts) -> None:
    with pytest.raises(InvalidInputError, match="checksum") as excinfo:
        token.transfer("0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266", 1, sender=accounts[0])
    assert excinfo.value.field == "transfer.to"


def test_wrong_argument_count_is_rejected(token: Contract) -> None:
    with pytest.raises(InvalidInputError, match="no overload takes 0 arguments"):
        token.balanceOf()


def test_state_changing_function_requires_sender(token: Contract, accounts) -> None:
    with pytest.raises(InvalidInputError, match="sender") as excinfo:
        token.transfer(accounts[1].address, 1)
    assert excinfo.value.field == "sender"


def test_sender_must_be_a_local_account(token: Contract, accounts) -> None:
    with pytest.raises(InvalidInputError, match="LocalAccount"):
        token.transfer(accounts[1].address, 1, sender=accounts[0].address)


def test_value_to_non_payable_function_is_rejected(token: Contract, accounts) -> None:
    with pytest.raises(InvalidInputError, match="not payable"):
        token.transfer(accounts[1].address, 1, sender=accounts[0], value=1)


def test_default_arguments_resolve_by_count(token: Contract) -> None:
    # Vyper emits scaled(uint256) and scaled(uint256,uint256) for the default argument.
    assert token.scaled(3) == 30
    assert token.scaled(3, 2) == 6


def test_unknown_function_is_an_attribute_error(token: Contract) -> None:
    with pytest.raises(AttributeError, match="mint"):
        token.mint  # noqa: B018


def test_fn_reaches_functions_by_name(token: Contract) -> None:
    assert token.fn("totalSupply")() == 10**24
    with pytest.raises(InvalidInputError, match="mint"):
        token.fn("mint")


def test_unknown_event_name_is_rejected(token: Contract) -> None:
    with pytest.raises(InvalidInputError, match="Approval") as excinfo:
        token.get_events("Approval")
    assert excinfo.value.field == "event"


def test_decode_logs_skips_other_contracts(chain, token: Contract, token_code, accounts) -> None:
    other = deploy(chain, token_code.abi, token_code.bytecode, 1, sender=accounts[0])
    receipt = other.transfer(accounts[1].address, 1, sender=accounts[0])
    assert token.decode_logs(receipt) == []
    assert len(other.decode_logs(receipt)) == 1


def test_decode_logs_skips_unknown_topics(token: Contract) -> None:
    stray = LogEntry(token.address, (b"\x01" * 32,), b"", 1, b"\x00" * 32, 0)
    assert token.decode_logs([stray]) == []


def test_decode_logs_filters_by_event(token: Contract, accounts) -> None:
    receipt = token.note("hi", sender=accounts[0])
    assert token.decode_logs(receipt, event="Transfer") == []


def test_constructor_arguments_are_checked(chain, token_code, accounts) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        deploy(chain, token_code.abi, token_code.bytecode, "lots", sender=accounts[0])
    assert excinfo.value.field == "constructor.supply"


def test_deploy_accepts_hex_bytecode(chain, token_code, accounts) -> None:
    token = deploy(chain, token_code.abi, "0x" + token_code.bytecode.hex(), 3, sender=accounts[0])
    assert token.totalSupply() == 3


def test_calldata_is_selector_plus_arguments(token: Contract, accounts) -> None:
    data = token.transfer.calldata(accounts[1].address, 5)
    assert data[:4].hex() == "a9059cbb"
    assert data[4:] == encode(["address", "uint256"], [accounts[1].address, 5])


def test_call_to_address_without_code_is_not_found(chain, token_code) -> None:
    from ailedger.errors import NotFoundError

    empty = Contract(chain, "0x" + "11" * 20, token_code.abi)
    with pytest.raises(NotFoundError, match="contract"):
        empty.totalSupply()
