"""The ``Chain`` specification, run against EmbeddedChain and RpcChain (anvil) alike."""

from __future__ import annotations

import itertools

import pytest
from eth_account import Account
from eth_utils import keccak

from ailedger.core.chain import Chain, Contract, dev_accounts
from ailedger.errors import InvalidInputError, NotFoundError, RevertError

INITIAL_SUPPLY = 10**24  # what the token fixture mints to accounts[0]
TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")
BAD_CHECKSUM = "0xF39fd6e51aad88F6F4ce6aB8827279cffFb92266"  # one letter's case flipped


def _topic(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def test_chain_id_is_31337(chain: Chain) -> None:
    assert chain.chain_id == 31337


def test_dev_accounts_are_funded(chain: Chain) -> None:
    for account in dev_accounts(10):
        assert chain.balance(account.address) > 9_000 * 10**18


def test_native_transfer_moves_value_and_charges_gas(chain: Chain, accounts) -> None:
    alice, bob = accounts[1], accounts[2]
    before_alice, before_bob = chain.balance(alice.address), chain.balance(bob.address)
    receipt = chain.transact(alice, bob.address, value=12345)
    assert receipt.status
    assert chain.balance(bob.address) == before_bob + 12345
    assert chain.balance(alice.address) < before_alice - 12345  # gas was paid too


def test_nonce_counts_sent_transactions(chain: Chain, accounts) -> None:
    sender = accounts[3]
    start = chain.nonce(sender.address)
    chain.transact(sender, accounts[4].address, value=1)
    chain.transact(sender, accounts[4].address, value=1)
    assert chain.nonce(sender.address) == start + 2


def test_deploy_returns_contract_with_code(chain: Chain, token: Contract) -> None:
    assert chain.code(token.address) != b""
    assert token.deploy_receipt is not None
    assert token.deploy_receipt.contract_address == token.address


def test_view_call_decodes_single_output(token: Contract, accounts) -> None:
    assert token.balanceOf(accounts[0].address) == INITIAL_SUPPLY
    assert token.totalSupply() == INITIAL_SUPPLY


def test_view_call_returns_tuple_for_multiple_outputs(token: Contract, accounts) -> None:
    assert token.info(accounts[0].address) == (INITIAL_SUPPLY, accounts[0].address)


def test_transact_changes_state_and_returns_receipt(chain: Chain, token: Contract, accounts):
    receipt = token.transfer(accounts[1].address, 500, sender=accounts[0])
    assert receipt.status
    assert receipt.block_number == chain.block_number()
    assert receipt.gas_used > 21_000
    assert token.balanceOf(accounts[1].address) == 500


def test_receipt_can_be_fetched_again_by_hash(chain: Chain, token: Contract, accounts) -> None:
    receipt = token.transfer(accounts[1].address, 1, sender=accounts[0])
    assert chain.wait_for_receipt(receipt.tx_hash) == receipt


def test_receipt_of_unknown_transaction_is_not_found(chain: Chain) -> None:
    with pytest.raises(NotFoundError, match="0x" + "ab" * 32):
        chain.wait_for_receipt(bytes.fromhex("ab" * 32), timeout=0.5)


def test_block_lists_its_transactions(chain: Chain, token: Contract, accounts) -> None:
    receipt = token.transfer(accounts[1].address, 1, sender=accounts[0])
    block = chain.get_block(receipt.block_number)
    assert block.number == receipt.block_number
    assert receipt.tx_hash in block.tx_hashes
    assert len(block.hash) == 32


def test_missing_block_is_not_found(chain: Chain) -> None:
    with pytest.raises(NotFoundError, match="block"):
        chain.get_block(chain.block_number() + 1000)


def test_block_timestamps_never_decrease(chain: Chain, accounts) -> None:
    # anvil may give consecutive blocks the same second; EmbeddedChain is stricter
    # (see test_embedded.py), as py-evm's header rules require.
    for _ in range(3):
        chain.transact(accounts[5], accounts[6].address, value=1)
    head = chain.block_number()
    stamps = [chain.get_block(n).timestamp for n in range(head - 2, head + 1)]
    assert stamps[0] <= stamps[1] <= stamps[2]


def test_revert_raises_with_reason_and_changes_nothing(chain: Chain, token: Contract, accounts):
    poor = accounts[7]
    head, nonce = chain.block_number(), chain.nonce(poor.address)
    with pytest.raises(RevertError) as excinfo:
        token.transfer(accounts[1].address, 1, sender=poor)
    assert excinfo.value.reason == "insufficient token balance"
    assert chain.block_number() == head
    assert chain.nonce(poor.address) == nonce


def test_view_revert_raises_with_reason(token: Contract) -> None:
    with pytest.raises(RevertError):
        token.divide(1, 0)


def test_receipt_carries_decodable_logs(token: Contract, accounts) -> None:
    receipt = token.transfer(accounts[1].address, 7, sender=accounts[0])
    (event,) = token.decode_logs(receipt)
    assert event.name == "Transfer"
    assert event.args == {
        "sender": accounts[0].address,
        "receiver": accounts[1].address,
        "value": 7,
    }
    assert event.log.tx_hash == receipt.tx_hash


def test_event_with_string_data_decodes(token: Contract, accounts) -> None:
    receipt = token.note("hello ledger", sender=accounts[2])
    (event,) = token.decode_logs(receipt, event="Note")
    assert event.args == {"author": accounts[2].address, "text": "hello ledger"}


def test_get_logs_filters_by_address(chain: Chain, token: Contract, token_code, accounts):
    from ailedger.core.chain import deploy

    other = deploy(chain, token_code.abi, token_code.bytecode, 5, sender=accounts[0])
    token.transfer(accounts[1].address, 1, sender=accounts[0])
    logs = chain.get_logs(address=other.address)
    assert [log.address for log in logs] == [other.address]


def test_get_logs_filters_by_topic(chain: Chain, token: Contract, accounts) -> None:
    start = chain.block_number() + 1
    token.transfer(accounts[1].address, 1, sender=accounts[0])
    token.transfer(accounts[2].address, 2, sender=accounts[0])
    token.note("x", sender=accounts[0])
    to_second = chain.get_logs(
        address=token.address,
        topics=[TRANSFER_TOPIC, None, _topic(accounts[2].address)],
        from_block=start,
    )
    assert [token.decode_logs(to_second)[0].args["value"]] == [2]


def test_get_logs_accepts_alternative_topics(chain: Chain, token: Contract, accounts) -> None:
    start = chain.block_number() + 1
    for account in accounts[1:4]:
        token.transfer(account.address, 1, sender=accounts[0])
    logs = chain.get_logs(
        topics=[TRANSFER_TOPIC, None, [_topic(accounts[1].address), _topic(accounts[3].address)]],
        from_block=start,
    )
    assert len(logs) == 2


def test_get_logs_respects_block_range_and_order(chain: Chain, token: Contract, accounts):
    numbers = [
        token.transfer(accounts[1].address, i, sender=accounts[0]).block_number for i in (1, 2, 3)
    ]
    logs = chain.get_logs(address=token.address, from_block=numbers[1], to_block=numbers[2])
    assert [log.block_number for log in logs] == numbers[1:]


def test_get_events_returns_decoded_events(chain: Chain, token: Contract, accounts) -> None:
    token.transfer(accounts[1].address, 9, sender=accounts[0])
    events = token.get_events("Transfer")
    assert [e.args["value"] for e in events] == [INITIAL_SUPPLY, 9]


def test_new_blocks_yields_blocks_as_they_are_mined(chain: Chain, accounts) -> None:
    start = chain.block_number() + 1
    hashes = [chain.transact(accounts[8], accounts[9].address, value=1).tx_hash for _ in range(3)]
    blocks = list(itertools.islice(chain.new_blocks(from_block=start, poll_interval=0.01), 3))
    assert [b.number for b in blocks] == [start, start + 1, start + 2]
    assert [h for b in blocks for h in b.tx_hashes] == hashes


def test_payable_function_accepts_value(chain: Chain, token: Contract, accounts) -> None:
    token.deposit(sender=accounts[1], value=10**15)
    assert chain.balance(token.address) == 10**15


@pytest.mark.parametrize(
    "address",
    [BAD_CHECKSUM, "0x123", "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x" + "zz" * 20, 42],
)
def test_bad_address_is_rejected_naming_the_field(chain: Chain, address) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        chain.balance(address)
    assert excinfo.value.field == "address"


def test_bad_recipient_is_rejected_and_nothing_is_sent(chain: Chain, accounts) -> None:
    head = chain.block_number()
    with pytest.raises(InvalidInputError) as excinfo:
        chain.transact(accounts[1], BAD_CHECKSUM, value=1)
    assert excinfo.value.field == "to"
    assert "checksum" in excinfo.value.message
    assert chain.block_number() == head


def test_lowercase_address_is_accepted(chain: Chain, accounts) -> None:
    assert chain.balance(accounts[0].address.lower()) == chain.balance(accounts[0].address)


@pytest.mark.parametrize("value", [-1, 1.5, "10", True])
def test_bad_amount_is_rejected_and_nothing_is_sent(chain: Chain, accounts, value) -> None:
    head = chain.block_number()
    with pytest.raises(InvalidInputError) as excinfo:
        chain.transact(accounts[1], accounts[2].address, value=value)
    assert excinfo.value.field == "value"
    assert chain.block_number() == head


def test_insufficient_balance_is_a_clear_error(chain: Chain, accounts) -> None:
    pauper = Account.create()
    head = chain.block_number()
    with pytest.raises(InvalidInputError, match="insufficient balance") as excinfo:
        chain.transact(pauper, accounts[1].address, value=1)
    assert pauper.address in excinfo.value.message
    assert chain.block_number() == head


def test_value_above_balance_is_a_clear_error(chain: Chain, accounts) -> None:
    sender = accounts[1]
    with pytest.raises(InvalidInputError, match="insufficient balance"):
        chain.transact(sender, accounts[2].address, value=chain.balance(sender.address) + 1)


def test_balance_covering_value_but_not_gas_is_a_clear_error(chain: Chain, accounts) -> None:
    fresh = Account.create()
    chain.transact(accounts[1], fresh.address, value=1000)
    with pytest.raises(InvalidInputError, match="insufficient balance"):
        chain.transact(fresh, accounts[1].address, value=1000)
    assert chain.balance(fresh.address) == 1000


def test_signer_must_be_a_local_account(chain: Chain, accounts) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        chain.transact(accounts[0].address, accounts[1].address, value=1)
    assert excinfo.value.field == "signer"


def test_explicit_gas_below_intrinsic_is_rejected(chain: Chain, accounts) -> None:
    head = chain.block_number()
    with pytest.raises(InvalidInputError) as excinfo:
        chain.transact(accounts[1], accounts[2].address, value=1, gas=1_000)
    assert excinfo.value.field == "gas"
    assert chain.block_number() == head
