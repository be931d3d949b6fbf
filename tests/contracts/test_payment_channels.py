"""PaymentChannels: ALT deposits, EIP-712 vouchers claimed in batches, reclaim after expiry."""

from __future__ import annotations

import json

import boa
import pytest
from eth.exceptions import Revert
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ailedger import contracts
from ailedger.contracts.typed_data import (
    PERMIT_TYPES,
    VOUCHER_TYPES,
    alt_token_domain,
    payment_channels_domain,
)
from ailedger.core.chain import decode_revert_reason
from ailedger.core.identity import hash_typed, sign_typed

ZERO = "0x0000000000000000000000000000000000000000"
ALT = 10**18
PRICE = 10**16
DEPOSIT = 10 * ALT
DAY = 86_400
NAME = b"diagnosis".ljust(32, b"\0")
LOG_ID = keccak(b"calls log")


def _deploy_with_args(name: str, types: list[str], args: list, sender: str):
    artifact = contracts.load(name)
    code = artifact.bytecode + encode(types, args)
    address, _ = boa.env.deploy_code(bytecode=code, sender=sender)
    return boa.loads_abi(json.dumps(artifact.abi), name=name).at(address)


@pytest.fixture
def token(deploy):
    return deploy("ALTToken")


@pytest.fixture
def registry(deployer):
    anchors = "0x" + "a7" * 20
    return _deploy_with_args("ModelRegistry", ["address"], [anchors], deployer)


@pytest.fixture
def channels(token, registry, deployer):
    return _deploy_with_args(
        "PaymentChannels", ["address", "address"], [token.address, registry.address], deployer
    )


@pytest.fixture
def service(bob) -> LocalAccount:
    """The model owner: paid by the channels, signs nothing on chain."""
    return bob


@pytest.fixture
def model_id(registry, service) -> bytes:
    return registry.register(
        NAME, keccak(b"model"), keccak(b"card"), PRICE, "http://svc", LOG_ID, sender=service.address
    )


@pytest.fixture
def consumer(token, deployer, alice, channels) -> LocalAccount:
    """alice, holding 100 ALT and having approved the channels contract for all of it."""
    token.mint(alice.address, 100 * ALT, sender=deployer)
    token.approve(channels.address, 100 * ALT, sender=alice.address)
    return alice


def _now() -> int:
    return boa.env.evm.patch.timestamp


@pytest.fixture
def channel_id(channels, consumer, model_id) -> int:
    return channels.open(model_id, DEPOSIT, _now() + DAY, sender=consumer.address)


@pytest.fixture
def voucher(channels, chain_id):
    """Sign a voucher ``(channel, nonce, cumulative amount)`` as ``signer``."""

    def _voucher(signer: LocalAccount, channel: int, nonce: int, amount: int):
        domain = payment_channels_domain(chain_id, channels.address)
        message = {"channelId": channel, "nonce": nonce, "amount": amount}
        signature = sign_typed(signer, domain, "Voucher", VOUCHER_TYPES, message)
        return (channel, nonce, amount), signature

    return _voucher


def _names(contract) -> list[str]:
    # get_logs() reads the most recent call: read events before any view call.
    return [type(event).__name__ for event in contract.get_logs()]


def _channel(channels, channel_id) -> dict:
    c = channels.get_channel(channel_id)
    return {
        "consumer": c.consumer,
        "recipient": c.recipient,
        "model_id": c.model_id,
        "deposit": c.deposit,
        "claimed": c.claimed,
        "nonce": c.nonce,
        "expiry": c.expiry,
        "reclaimed": c.reclaimed,
    }


# --- deployment -------------------------------------------------------------------------------


def test_constructor_records_token_and_registry(channels, token, registry):
    assert (channels.token(), channels.registry()) == (token.address, registry.address)
    assert channels.channel_count() == 0


@pytest.mark.parametrize("which", ["token", "registry"])
def test_constructor_rejects_zero_addresses(deployer, token, registry, which):
    args = [ZERO, registry.address] if which == "token" else [token.address, ZERO]
    # deploy_code raises py-evm's Revert carrying the ABI-encoded Error(string).
    with pytest.raises(Revert) as raised:
        _deploy_with_args("PaymentChannels", ["address", "address"], args, deployer)
    assert decode_revert_reason(raised.value.args[0]) == f"init: {which} is the zero address"


def test_domain_separator_matches_the_off_chain_domain(channels, chain_id):
    domain = payment_channels_domain(chain_id, channels.address)
    assert channels.DOMAIN_SEPARATOR() == domain.separator()


def test_voucher_digest_matches_the_off_chain_eip712_hash(channels, chain_id):
    domain = payment_channels_domain(chain_id, channels.address)
    message = {"channelId": 3, "nonce": 7, "amount": 12345}
    assert channels.voucher_digest((3, 7, 12345)) == hash_typed(
        domain, "Voucher", VOUCHER_TYPES, message
    )
    assert channels.VOUCHER_TYPEHASH() == keccak(
        text="Voucher(uint256 channelId,uint256 nonce,uint256 amount)"
    )


def test_eip712_domain_reports_name_version_chain_and_contract(channels, chain_id):
    _, name, version, reported_chain, contract, _, _ = channels.eip712Domain()
    assert (name, version, reported_chain, contract) == (
        "AILedger PaymentChannels",
        "1",
        chain_id,
        channels.address,
    )


# --- opening ----------------------------------------------------------------------------------


def test_open_locks_the_deposit_and_records_the_channel(
    channels, token, consumer, service, model_id
):
    expiry = _now() + DAY
    channel_id = channels.open(model_id, DEPOSIT, expiry, sender=consumer.address)
    assert "ChannelOpened" in _names(channels)
    assert channel_id == 0
    assert _channel(channels, channel_id) == {
        "consumer": consumer.address,
        "recipient": service.address,
        "model_id": model_id,
        "deposit": DEPOSIT,
        "claimed": 0,
        "nonce": 0,
        "expiry": expiry,
        "reclaimed": False,
    }
    assert token.balanceOf(channels.address) == DEPOSIT
    assert token.balanceOf(consumer.address) == 100 * ALT - DEPOSIT


def test_open_emits_channel_opened_with_its_terms(channels, consumer, service, model_id):
    expiry = _now() + DAY
    channel_id = channels.open(model_id, DEPOSIT, expiry, sender=consumer.address)
    event = next(e for e in channels.get_logs() if type(e).__name__ == "ChannelOpened")
    assert (event.channel_id, event.consumer, event.model_id, event.recipient) == (
        channel_id,
        consumer.address,
        model_id,
        service.address,
    )
    assert (event.deposit, event.expiry) == (DEPOSIT, expiry)


def test_channel_ids_count_up(channels, consumer, model_id):
    ids = [channels.open(model_id, ALT, _now() + DAY, sender=consumer.address) for _ in range(3)]
    assert ids == [0, 1, 2]
    assert channels.channel_count() == 3


def test_open_for_unknown_model_reverts(channels, consumer):
    with boa.reverts("open: model is not active"):
        channels.open(keccak(b"unknown"), DEPOSIT, _now() + DAY, sender=consumer.address)


def test_open_for_deprecated_model_reverts(channels, registry, consumer, service, model_id):
    registry.deprecate(model_id, sender=service.address)
    with boa.reverts("open: model is not active"):
        channels.open(model_id, DEPOSIT, _now() + DAY, sender=consumer.address)
    assert channels.channel_count() == 0


def test_open_by_the_model_owner_reverts(channels, token, deployer, service, model_id):
    token.mint(service.address, ALT, sender=deployer)
    token.approve(channels.address, ALT, sender=service.address)
    with boa.reverts("open: consumer is the model owner"):
        channels.open(model_id, ALT, _now() + DAY, sender=service.address)


def test_open_with_zero_deposit_reverts(channels, consumer, model_id):
    with boa.reverts("open: deposit must be above zero"):
        channels.open(model_id, 0, _now() + DAY, sender=consumer.address)


def test_open_with_deposit_beyond_128_bits_reverts(channels, consumer, model_id):
    with boa.reverts("open: deposit too large"):
        channels.open(model_id, 2**128, _now() + DAY, sender=consumer.address)


def test_open_with_past_expiry_reverts(channels, consumer, model_id):
    with boa.reverts("open: expiry is not in the future"):
        channels.open(model_id, DEPOSIT, _now(), sender=consumer.address)


def test_open_without_allowance_reverts_and_moves_nothing(channels, token, deployer, model_id):
    carol = boa.env.generate_address("carol")
    token.mint(carol, DEPOSIT, sender=deployer)
    with boa.reverts("erc20: insufficient allowance"):
        channels.open(model_id, DEPOSIT, _now() + DAY, sender=carol)
    assert token.balanceOf(carol) == DEPOSIT
    assert channels.channel_count() == 0


def _permit(token, owner: LocalAccount, spender: str, value: int, chain_id: int):
    deadline = _now() + 3600
    message = {
        "owner": owner.address,
        "spender": spender,
        "value": value,
        "nonce": token.nonces(owner.address),
        "deadline": deadline,
    }
    signature = sign_typed(
        owner, alt_token_domain(chain_id, token.address), "Permit", PERMIT_TYPES, message
    )
    return deadline, signature[64], signature[:32], signature[32:64]


def test_open_with_permit_needs_no_prior_approval(
    channels, token, deployer, mallory, model_id, chain_id
):
    token.mint(mallory.address, DEPOSIT, sender=deployer)
    deadline, v, r, s = _permit(token, mallory, channels.address, DEPOSIT, chain_id)
    channel_id = channels.open_with_permit(
        model_id, DEPOSIT, _now() + DAY, deadline, v, r, s, sender=mallory.address
    )
    assert channels.get_channel(channel_id).deposit == DEPOSIT
    assert token.balanceOf(mallory.address) == 0


def test_open_with_permit_survives_a_front_run_permit(
    channels, token, deployer, mallory, model_id, chain_id
):
    token.mint(mallory.address, DEPOSIT, sender=deployer)
    deadline, v, r, s = _permit(token, mallory, channels.address, DEPOSIT, chain_id)
    # Someone copies the permit from the mempool and submits it first.
    token.permit(mallory.address, channels.address, DEPOSIT, deadline, v, r, s, sender=deployer)
    channel_id = channels.open_with_permit(
        model_id, DEPOSIT, _now() + DAY, deadline, v, r, s, sender=mallory.address
    )
    assert channels.get_channel(channel_id).consumer == mallory.address


def test_open_with_a_permit_by_someone_else_reverts(
    channels, token, deployer, mallory, alice, model_id, chain_id
):
    token.mint(mallory.address, DEPOSIT, sender=deployer)
    deadline, v, r, s = _permit(token, alice, channels.address, DEPOSIT, chain_id)
    with boa.reverts("erc20: invalid signature"):
        channels.open_with_permit(
            model_id, DEPOSIT, _now() + DAY, deadline, v, r, s, sender=mallory.address
        )


# --- top up and extend ------------------------------------------------------------------------


def test_top_up_raises_the_deposit(channels, token, consumer, channel_id):
    channels.top_up(channel_id, ALT, sender=consumer.address)
    (event,) = [e for e in channels.get_logs() if type(e).__name__ == "ChannelToppedUp"]
    assert (event.channel_id, event.amount, event.deposit) == (channel_id, ALT, DEPOSIT + ALT)
    assert channels.get_channel(channel_id).deposit == DEPOSIT + ALT
    assert token.balanceOf(channels.address) == DEPOSIT + ALT


def test_top_up_by_another_account_reverts(channels, channel_id, service):
    with boa.reverts("top_up: caller is not the consumer"):
        channels.top_up(channel_id, ALT, sender=service.address)


def test_top_up_of_zero_reverts(channels, consumer, channel_id):
    with boa.reverts("top_up: amount must be above zero"):
        channels.top_up(channel_id, 0, sender=consumer.address)


def test_top_up_for_deprecated_model_reverts(channels, registry, consumer, service, channel_id):
    registry.deprecate(channels.get_channel(channel_id).model_id, sender=service.address)
    with boa.reverts("top_up: model is not active"):
        channels.top_up(channel_id, ALT, sender=consumer.address)
    assert channels.get_channel(channel_id).deposit == DEPOSIT


def test_top_up_of_unknown_channel_reverts(channels, consumer):
    with boa.reverts("top_up: unknown channel"):
        channels.top_up(99, ALT, sender=consumer.address)


def test_top_up_beyond_128_bits_reverts(channels, consumer, channel_id):
    with boa.reverts("top_up: deposit too large"):
        channels.top_up(channel_id, 2**128, sender=consumer.address)


def test_extend_moves_the_expiry_later(channels, consumer, channel_id):
    later = channels.get_channel(channel_id).expiry + DAY
    channels.extend(channel_id, later, sender=consumer.address)
    (event,) = channels.get_logs()
    assert (type(event).__name__, event.expiry) == ("ChannelExtended", later)
    assert channels.get_channel(channel_id).expiry == later
    assert channels.get_channel(channel_id).consumer == consumer.address


def test_extend_to_an_earlier_expiry_reverts(channels, consumer, channel_id):
    expiry = channels.get_channel(channel_id).expiry
    with boa.reverts("extend: expiry must grow"):
        channels.extend(channel_id, expiry, sender=consumer.address)


def test_extend_by_another_account_reverts(channels, service, channel_id):
    expiry = channels.get_channel(channel_id).expiry
    with boa.reverts("extend: caller is not the consumer"):
        channels.extend(channel_id, expiry + DAY, sender=service.address)


def test_extend_of_unknown_channel_reverts(channels, consumer):
    with boa.reverts("extend: unknown channel"):
        channels.extend(5, _now() + DAY, sender=consumer.address)


# --- claims -----------------------------------------------------------------------------------


def test_claim_credits_the_recipient_and_keeps_the_channel_open(
    channels, consumer, service, channel_id, voucher
):
    v, signature = voucher(consumer, channel_id, 3, 3 * PRICE)
    paid = channels.claim(channel_id, v, signature, sender=service.address)
    (event,) = channels.get_logs()
    assert type(event).__name__ == "Claimed"
    assert (event.channel_id, event.recipient, event.nonce, event.amount, event.paid) == (
        channel_id,
        service.address,
        3,
        3 * PRICE,
        3 * PRICE,
    )
    assert paid == 3 * PRICE
    assert channels.balance_of(service.address) == 3 * PRICE
    state = _channel(channels, channel_id)
    assert (state["claimed"], state["nonce"], state["reclaimed"]) == (3 * PRICE, 3, False)


def test_later_claims_pay_only_the_difference(channels, consumer, service, channel_id, voucher):
    channels.claim(channel_id, *voucher(consumer, channel_id, 3, 3 * PRICE), sender=service.address)
    paid = channels.claim(
        channel_id, *voucher(consumer, channel_id, 10, 10 * PRICE), sender=service.address
    )
    assert paid == 7 * PRICE
    assert channels.balance_of(service.address) == 10 * PRICE


def test_claim_after_expiry_before_reclaim_still_pays(
    channels, consumer, service, channel_id, voucher
):
    boa.env.time_travel(seconds=2 * DAY)
    channels.claim(channel_id, *voucher(consumer, channel_id, 1, PRICE), sender=service.address)
    assert channels.balance_of(service.address) == PRICE


def test_voucher_for_another_channel_reverts(channels, consumer, service, model_id, voucher):
    first = channels.open(model_id, DEPOSIT, _now() + DAY, sender=consumer.address)
    second = channels.open(model_id, DEPOSIT, _now() + DAY, sender=consumer.address)
    v, signature = voucher(consumer, first, 1, PRICE)
    with boa.reverts("claim: voucher is for another channel"):
        channels.claim(second, v, signature, sender=service.address)


def test_stale_nonce_reverts(channels, consumer, service, channel_id, voucher):
    channels.claim(channel_id, *voucher(consumer, channel_id, 5, 5 * PRICE), sender=service.address)
    with boa.reverts("claim: stale nonce"):
        channels.claim(
            channel_id, *voucher(consumer, channel_id, 5, 6 * PRICE), sender=service.address
        )
    assert channels.balance_of(service.address) == 5 * PRICE


def test_bounds_are_public_for_off_chain_checks(channels):
    assert (channels.MAX_NONCE(), channels.MAX_AMOUNT()) == (2**96 - 1, 2**128 - 1)


def test_nonce_above_max_nonce_reverts_and_max_nonce_claims(
    channels, consumer, service, channel_id, voucher
):
    too_large = channels.MAX_NONCE() + 1
    with boa.reverts("claim: nonce too large"):
        channels.claim(
            channel_id, *voucher(consumer, channel_id, too_large, PRICE), sender=service.address
        )
    last = channels.MAX_NONCE()
    channels.claim(channel_id, *voucher(consumer, channel_id, last, PRICE), sender=service.address)
    assert channels.get_channel(channel_id).nonce == last


def test_replaying_the_claimed_voucher_reverts(channels, consumer, service, channel_id, voucher):
    v, signature = voucher(consumer, channel_id, 2, 2 * PRICE)
    channels.claim(channel_id, v, signature, sender=service.address)
    with boa.reverts("claim: stale nonce"):
        channels.claim(channel_id, v, signature, sender=service.address)
    assert channels.balance_of(service.address) == 2 * PRICE


def test_amount_above_deposit_reverts(channels, consumer, service, channel_id, voucher):
    with boa.reverts("claim: amount above deposit"):
        channels.claim(
            channel_id, *voucher(consumer, channel_id, 1, DEPOSIT + 1), sender=service.address
        )


def test_amount_not_above_claimed_reverts(channels, consumer, service, channel_id, voucher):
    channels.claim(channel_id, *voucher(consumer, channel_id, 2, 2 * PRICE), sender=service.address)
    with boa.reverts("claim: amount not above the claimed amount"):
        channels.claim(
            channel_id, *voucher(consumer, channel_id, 3, 2 * PRICE), sender=service.address
        )


def test_voucher_signed_by_someone_else_reverts(channels, mallory, service, channel_id, voucher):
    with boa.reverts("claim: signature is not the consumer's"):
        channels.claim(channel_id, *voucher(mallory, channel_id, 1, PRICE), sender=service.address)
    assert channels.balance_of(service.address) == 0


def test_tampered_voucher_amount_reverts(channels, consumer, service, channel_id, voucher):
    (channel, nonce, _), signature = voucher(consumer, channel_id, 1, PRICE)
    with boa.reverts("claim: signature is not the consumer's"):
        channels.claim(channel_id, (channel, nonce, 5 * PRICE), signature, sender=service.address)


def test_high_s_signature_reverts(channels, consumer, service, channel_id, voucher):
    v, signature = voucher(consumer, channel_id, 1, PRICE)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(signature[32:64], "big")
    malleable = signature[:32] + (n - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    with boa.reverts("ecdsa: invalid signature `s` value"):
        channels.claim(channel_id, v, malleable, sender=service.address)


def test_claim_by_anyone_but_the_recipient_reverts(
    channels, consumer, mallory, channel_id, voucher
):
    with boa.reverts("claim: caller is not the channel recipient"):
        channels.claim(channel_id, *voucher(consumer, channel_id, 1, PRICE), sender=mallory.address)


def test_claim_on_unknown_channel_reverts(channels, consumer, service, voucher):
    with boa.reverts("claim: unknown channel"):
        channels.claim(7, *voucher(consumer, 7, 1, PRICE), sender=service.address)


# --- reclaim and withdraw ---------------------------------------------------------------------


def test_reclaim_before_expiry_reverts(channels, consumer, channel_id):
    with boa.reverts("reclaim: channel not expired"):
        channels.reclaim(channel_id, sender=consumer.address)
    assert not channels.get_channel(channel_id).reclaimed


def test_reclaim_after_expiry_credits_the_unclaimed_deposit(
    channels, consumer, service, channel_id, voucher
):
    channels.claim(channel_id, *voucher(consumer, channel_id, 4, 4 * PRICE), sender=service.address)
    boa.env.time_travel(seconds=DAY)
    refund = channels.reclaim(channel_id, sender=consumer.address)
    (event,) = channels.get_logs()
    assert (type(event).__name__, event.consumer, event.refund) == (
        "Reclaimed",
        consumer.address,
        DEPOSIT - 4 * PRICE,
    )
    assert refund == DEPOSIT - 4 * PRICE
    assert channels.balance_of(consumer.address) == DEPOSIT - 4 * PRICE
    assert channels.get_channel(channel_id).reclaimed


def test_reclaim_twice_reverts(channels, consumer, channel_id):
    boa.env.time_travel(seconds=DAY)
    channels.reclaim(channel_id, sender=consumer.address)
    with boa.reverts("reclaim: channel already reclaimed"):
        channels.reclaim(channel_id, sender=consumer.address)
    assert channels.balance_of(consumer.address) == DEPOSIT


def test_reclaim_by_another_account_reverts(channels, service, channel_id):
    boa.env.time_travel(seconds=DAY)
    with boa.reverts("reclaim: caller is not the consumer"):
        channels.reclaim(channel_id, sender=service.address)


def test_reclaim_of_unknown_channel_reverts(channels, consumer):
    with boa.reverts("reclaim: unknown channel"):
        channels.reclaim(3, sender=consumer.address)


def test_claim_after_reclaim_reverts(channels, consumer, service, channel_id, voucher):
    v, signature = voucher(consumer, channel_id, 1, PRICE)
    boa.env.time_travel(seconds=DAY)
    channels.reclaim(channel_id, sender=consumer.address)
    with boa.reverts("claim: channel reclaimed"):
        channels.claim(channel_id, v, signature, sender=service.address)
    assert channels.balance_of(service.address) == 0


def test_reclaimed_channel_cannot_be_topped_up_or_extended(channels, consumer, channel_id):
    boa.env.time_travel(seconds=DAY)
    channels.reclaim(channel_id, sender=consumer.address)
    with boa.reverts("top_up: channel reclaimed"):
        channels.top_up(channel_id, ALT, sender=consumer.address)
    with boa.reverts("extend: channel reclaimed"):
        channels.extend(channel_id, _now() + DAY, sender=consumer.address)


def test_withdraw_sends_credited_alt_to_the_caller(
    channels, token, consumer, service, channel_id, voucher
):
    channels.claim(channel_id, *voucher(consumer, channel_id, 9, 9 * PRICE), sender=service.address)
    channels.withdraw(4 * PRICE, sender=service.address)
    (event,) = [e for e in channels.get_logs() if type(e).__name__ == "Withdrawn"]
    assert (event.account, event.amount) == (service.address, 4 * PRICE)
    assert token.balanceOf(service.address) == 4 * PRICE
    assert channels.balance_of(service.address) == 5 * PRICE


def test_withdraw_above_balance_reverts(channels, service):
    with boa.reverts("withdraw: amount above balance"):
        channels.withdraw(1, sender=service.address)


def test_withdraw_of_zero_reverts(channels, service):
    with boa.reverts("withdraw: amount must be above zero"):
        channels.withdraw(0, sender=service.address)


def test_get_channel_of_unknown_id_reverts(channels):
    with boa.reverts("get_channel: unknown channel"):
        channels.get_channel(0)


# --- no double spending -----------------------------------------------------------------------


def test_payouts_never_exceed_the_deposit(channels, token, consumer, service, channel_id, voucher):
    for nonce in (1, 50, 999):
        channels.claim(
            channel_id,
            *voucher(consumer, channel_id, nonce, nonce * PRICE),
            sender=service.address,
        )
    boa.env.time_travel(seconds=DAY)
    channels.reclaim(channel_id, sender=consumer.address)
    service_credit = channels.balance_of(service.address)
    consumer_credit = channels.balance_of(consumer.address)
    assert service_credit == 999 * PRICE
    assert service_credit + consumer_credit == DEPOSIT
    channels.withdraw(service_credit, sender=service.address)
    channels.withdraw(consumer_credit, sender=consumer.address)
    assert token.balanceOf(channels.address) == 0
    with boa.reverts("withdraw: amount above balance"):
        channels.withdraw(1, sender=consumer.address)


# --- reentrancy -------------------------------------------------------------------------------

# A token whose transfer calls back into the channels contract before finishing.
REENTRANT_TOKEN = """
# pragma version ~=0.4.3
interface IChannels:
    def withdraw(amount: uint256): nonpayable

target: public(address)
reentered: public(bool)

@external
def set_target(target_: address):
    self.target = target_

@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    return True

@external
def transfer(receiver: address, amount: uint256) -> bool:
    # Re-enter once: without a lock this would succeed and pay out twice in one call.
    if not self.reentered:
        self.reentered = True
        extcall IChannels(self.target).withdraw(amount)
    return True
"""


def test_withdraw_cannot_be_reentered_by_the_token(registry, deployer, alice, service, voucher):
    evil = boa.loads(REENTRANT_TOKEN)
    channels = _deploy_with_args(
        "PaymentChannels", ["address", "address"], [evil.address, registry.address], deployer
    )
    evil.set_target(channels.address)
    model_id = registry.register(
        NAME, keccak(b"m"), keccak(b"c"), PRICE, "http://svc", LOG_ID, sender=service.address
    )
    channel_id = channels.open(model_id, DEPOSIT, _now() + DAY, sender=alice.address)
    domain = payment_channels_domain(boa.env.evm.patch.chain_id, channels.address)
    message = {"channelId": channel_id, "nonce": 1, "amount": 2 * PRICE}
    signature = sign_typed(alice, domain, "Voucher", VOUCHER_TYPES, message)
    channels.claim(channel_id, (channel_id, 1, 2 * PRICE), signature, sender=service.address)
    # Without the lock the nested withdraw would succeed and pay twice; with it, all reverts.
    with boa.reverts():
        channels.withdraw(PRICE, sender=service.address)
    assert channels.balance_of(service.address) == 2 * PRICE
    assert not evil.reentered()
