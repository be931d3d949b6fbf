"""ServiceHost: every call is paid by a valid voucher, recorded, receipted; faults are refused."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger.core.log import hash_leaf
from ailedger.errors import InvalidInputError, UnauthorizedError
from ailedger.services import (
    CallReceipt,
    ClaimPolicy,
    ModelDeprecatedError,
    PaymentRequiredError,
    Voucher,
    VoucherSigner,
    call_record,
    commit,
)
from ailedger.services.models import ServedModel
from tests.services.conftest import ALT, PRICE

DAY = 86_400


def _chain_now(services) -> int:
    chain = services.platform.chain
    return max(int(time.time()), chain.get_block(chain.block_number()).timestamp)


@pytest.fixture
def channel(services):
    """A channel of the consumer to the diagnosis model: 1 ALT (100 calls), one day."""
    return services.contracts.channels.open(
        services.consumer, services.listing.model_id, ALT, _chain_now(services) + DAY
    )


@pytest.fixture
def signer(services) -> VoucherSigner:
    return VoucherSigner(services.platform.chain.chain_id, services.contracts.channels.address)


@pytest.fixture
def pay(services, signer, channel):
    """A request paying ``amount`` at ``nonce`` on the channel, signed by the consumer."""

    def _pay(nonce: int, amount: int, *, account=None, channel_id=None, inputs=None):
        voucher = signer.sign(
            account or services.consumer,
            channel.channel_id if channel_id is None else channel_id,
            nonce,
            amount,
        )
        return {
            "input": inputs if inputs is not None else services.model.examples[0],
            "salt": "0x" + os.urandom(32).hex(),
            "voucher": voucher.to_dict(),
        }

    return _pay


def _refused(host, request, match: str, field: str):
    store_before = host.store.all()
    log_before = host.log.size
    with pytest.raises(PaymentRequiredError, match=match) as raised:
        host.handle(request)
    assert raised.value.field == field
    assert host.store.all() == store_before
    assert host.log.size == log_before


# --- a good call ------------------------------------------------------------------------------


def test_paid_call_returns_the_model_output(host, pay, services):
    response = host.handle(pay(1, PRICE))
    assert response["output"] == services.model.predict(services.model.examples[0])


def test_paid_call_receipt_commits_to_request_response_and_payment(host, pay, services, channel):
    request = pay(1, PRICE)
    response = host.handle(request)
    receipt = CallReceipt.from_dict(response["receipt"])
    salt = bytes.fromhex(request["salt"][2:])
    host.receipts.verify(receipt, services.owner.address)
    assert receipt.request_hash == commit(salt, request["input"])
    assert receipt.response_hash == commit(salt, response["output"])
    assert (receipt.channel_id, receipt.nonce, receipt.amount, receipt.price) == (
        channel.channel_id,
        1,
        PRICE,
        PRICE,
    )
    assert (receipt.model_id, receipt.model_hash) == (
        services.listing.model_id,
        services.listing.model_hash,
    )


def test_paid_call_is_appended_to_the_log(host, pay):
    request = pay(1, PRICE)
    response = host.handle(request)
    index = response["log_index"]
    record = host.log.record(index)
    assert hash_leaf(record) == bytes.fromhex(response["leaf_hash"][2:])
    receipt = CallReceipt.from_dict(response["receipt"])
    voucher_signature = bytes.fromhex(request["voucher"]["signature"][2:])
    assert b'"receipt"' in record and voucher_signature.hex().encode() in record
    assert record == call_record(receipt, _voucher(request))


def test_accepted_voucher_is_stored_before_the_response(host, pay, channel):
    host.handle(pay(1, PRICE))
    latest = host.store.latest(channel.channel_id)
    assert (latest.voucher.nonce, latest.voucher.amount, latest.calls) == (1, PRICE, 1)


def test_voucher_may_pay_more_than_the_price(host, pay, channel):
    host.handle(pay(1, 3 * PRICE))
    assert host.store.latest(channel.channel_id).voucher.amount == 3 * PRICE


def test_nonces_may_skip_ahead(host, pay, channel):
    host.handle(pay(1, PRICE))
    host.handle(pay(5, 2 * PRICE))
    assert host.store.latest(channel.channel_id).voucher.nonce == 5


# --- vouchers that do not pay -----------------------------------------------------------------


def test_call_without_voucher_is_refused(host, pay):
    request = pay(1, PRICE)
    del request["voucher"]
    _refused(host, request, "voucher: missing; a call to diagnosis costs", "voucher")


def test_stale_nonce_is_refused(host, pay):
    host.handle(pay(3, PRICE))
    _refused(host, pay(3, 2 * PRICE), "stale nonce .* expected above 3, got 3", "voucher.nonce")


def test_replayed_voucher_is_refused(host, pay):
    request = pay(1, PRICE)
    host.handle(request)
    _refused(host, request, "stale nonce", "voucher.nonce")


def test_voucher_below_price_is_refused(host, pay):
    host.handle(pay(1, PRICE))
    _refused(
        host,
        pay(2, PRICE + PRICE // 2),
        f"amount below price .* expected at least {PRICE} \\+ {PRICE}",
        "voucher.amount",
    )


def test_voucher_above_deposit_is_refused(host, pay):
    _refused(host, pay(1, ALT + PRICE), f"amount above deposit .* at most {ALT}", "voucher.amount")


def test_voucher_signed_by_someone_else_is_refused(host, pay, services):
    intruder = services.platform.account("mallory", create=True)
    _refused(
        host,
        pay(1, PRICE, account=intruder),
        f"signed by {intruder.address}, expected the consumer",
        "voucher.signature",
    )


def test_voucher_on_unknown_channel_is_refused(host, pay):
    _refused(host, pay(1, PRICE, channel_id=99), "channel 99 does not exist", "voucher.channel_id")


def test_voucher_on_a_channel_of_another_model_is_refused(host, pay, services):
    other = services.contracts.registry.register(
        services.owner,
        "other",
        model_hash=b"\x01" * 32,
        card_hash=b"\x02" * 32,
        price=PRICE,
        endpoint="http://x",
        log_id=services.listing.log_id,
    )
    foreign = services.contracts.channels.open(
        services.consumer, other.model_id, ALT, _chain_now(services) + DAY
    )
    _refused(
        host,
        pay(1, PRICE, channel_id=foreign.channel_id),
        f"channel {foreign.channel_id} pays model .*, not diagnosis",
        "voucher.channel_id",
    )


def test_voucher_on_a_channel_about_to_expire_is_refused(services, pay, host):
    soon = services.contracts.channels.open(
        services.consumer, services.listing.model_id, ALT, _chain_now(services) + 60
    )
    _refused(
        host,
        pay(1, PRICE, channel_id=soon.channel_id),
        "within the 600 s margin",
        "voucher.channel_id",
    )


def test_voucher_with_a_forged_signature_encoding_is_refused(host, pay):
    request = pay(1, PRICE)
    request["voucher"]["signature"] = "0x" + "01" * 64 + "05"
    _refused(host, request, "expected v of 27 or 28", "voucher.signature")


def test_deprecated_model_takes_no_calls(services, host, pay):
    services.contracts.registry.deprecate(services.owner, services.listing.model_id)
    host.refresh_listing()
    with pytest.raises(ModelDeprecatedError, match="diagnosis is deprecated"):
        host.handle(pay(1, PRICE))
    assert host.store.all() == []


# --- bad requests cost nothing ----------------------------------------------------------------


def test_invalid_input_is_refused_before_payment(host, pay, services):
    inputs = dict(services.model.examples[0])
    inputs["mean radius"] = "large"
    with pytest.raises(InvalidInputError, match=r"input\.mean radius: expected a finite number"):
        host.handle(pay(1, PRICE, inputs=inputs))
    assert host.store.all() == []
    assert host.log.size == 0


def test_missing_feature_is_named(host, pay, services):
    inputs = dict(services.model.examples[0])
    del inputs["worst area"]
    with pytest.raises(InvalidInputError) as raised:
        host.handle(pay(1, PRICE, inputs=inputs))
    assert raised.value.field == "input.worst area"


def test_request_without_salt_is_refused(host, pay):
    request = pay(1, PRICE)
    request["salt"] = "0x1234"
    with pytest.raises(InvalidInputError, match="salt: expected 0x-prefixed hex of 32"):
        host.handle(request)
    assert host.store.all() == []


def test_failing_model_stores_no_voucher(services, pay, channel):
    class Broken(ServedModel):
        kind = "diagnosis"

        def validate(self, inputs):
            return inputs

        def score(self, row):
            raise RuntimeError("model crashed")

    broken = Broken(services.model.estimator, services.model.card, [])
    host = services.host(model=broken)
    try:
        with pytest.raises(RuntimeError):
            host.handle(pay(1, PRICE))
        assert host.store.latest(channel.channel_id) is None
    finally:
        host.close()


def test_host_refuses_an_account_that_does_not_own_the_model(services):
    with pytest.raises(UnauthorizedError, match="does not own model diagnosis"):
        services.host(account=services.consumer)


def test_host_refuses_a_model_whose_hash_is_not_registered(services):
    class Other(ServedModel):
        kind = "diagnosis"

    other = Other({"weights": [1, 2]}, services.model.card, [])
    with pytest.raises(InvalidInputError, match="is not the registered"):
        services.host(model=other)


# --- claims -----------------------------------------------------------------------------------


def test_claim_all_claims_the_latest_voucher_and_keeps_the_channel_open(
    host, pay, services, channel
):
    for nonce in range(1, 6):
        host.handle(pay(nonce, nonce * PRICE))
    (claim,) = host.claim_all()
    assert (claim.nonce, claim.amount, claim.paid) == (5, 5 * PRICE, 5 * PRICE)
    assert services.contracts.channels.balance_of(services.owner.address) == 5 * PRICE
    host.handle(pay(6, 6 * PRICE))  # still open: the next voucher is accepted
    (second,) = host.claim_all()
    assert second.paid == PRICE


def test_claim_all_with_nothing_new_sends_nothing(host, pay):
    host.handle(pay(1, PRICE))
    host.claim_all()
    assert host.claim_all() == []


def test_claims_are_recorded_in_the_store(host, pay, channel):
    host.handle(pay(1, PRICE))
    (claim,) = host.claim_all()
    (record,) = host.store.claims(channel.channel_id)
    assert (record.paid, record.tx_hash) == (PRICE, claim.receipt.tx_hash)


def test_claim_due_claims_once_enough_is_owed(services, pay, channel):
    host = services.host(policy=ClaimPolicy(min_unclaimed=3 * PRICE))
    try:
        host.handle(pay(1, PRICE))
        assert host.claim_due() == []
        host.handle(pay(2, 3 * PRICE))
        assert [c.paid for c in host.claim_due()] == [3 * PRICE]
    finally:
        host.close()


def test_claim_due_claims_channels_about_to_expire(services, pay, channel):
    host = services.host(policy=ClaimPolicy(min_unclaimed=100 * ALT))
    try:
        host.handle(pay(1, PRICE))
        assert host.claim_due() == []
        host.policy = ClaimPolicy(expiry_margin=2 * DAY, min_unclaimed=100 * ALT)
        assert [c.paid for c in host.claim_due()] == [PRICE]
    finally:
        host.close()


def test_restarted_host_keeps_accepted_vouchers_and_refuses_their_replay(services, pay, channel):
    first = services.host()
    request = pay(1, PRICE)
    first.handle(request)
    first.close()
    second = services.host()
    try:
        assert second.store.latest(channel.channel_id).voucher.nonce == 1
        with pytest.raises(PaymentRequiredError, match="stale nonce"):
            second.handle(request)
        assert [c.paid for c in second.claim_all()] == [PRICE]
    finally:
        second.close()


def test_voucher_after_reclaim_is_refused(services, host, pay):
    short = services.contracts.channels.open(
        services.consumer, services.listing.model_id, ALT, _chain_now(services) + 700
    )
    chain = services.platform.chain
    # Mine until the chain's clock passes the expiry (each block is at least a second later).
    while chain.get_block(chain.block_number()).timestamp < short.expiry:
        services.contracts.token.approve(services.owner.address, 0, sender=services.consumer)
    services.contracts.channels.reclaim(services.consumer, short.channel_id)
    _refused(
        host,
        pay(1, PRICE, channel_id=short.channel_id),
        f"channel {short.channel_id} was reclaimed",
        "voucher.channel_id",
    )


def _voucher(request):
    return Voucher.from_dict(request["voucher"])


# --- everything accepted is claimable (issue 9, item 1) ---------------------------------------


def test_voucher_with_a_nonce_the_contract_cannot_claim_is_refused(host, pay, services):
    # PaymentChannels.claim refuses nonces above 2**96 - 1, and nonces only grow: one such
    # voucher accepted would leave every later voucher of the channel unclaimable.
    _refused(host, pay(2**96, PRICE), "nonce", "voucher.nonce")
    host.handle(pay(2**96 - 1, PRICE))
    (result,) = host.claim_all()
    assert (result.nonce, result.paid) == (2**96 - 1, PRICE)


@pytest.mark.parametrize("margin", [0, -5, 1.5, True])
def test_claim_policy_without_a_positive_expiry_margin_is_refused(margin):
    # Without a margin a consumer could reclaim at expiry what the host just accepted.
    with pytest.raises(InvalidInputError, match="expiry_margin"):
        ClaimPolicy(expiry_margin=margin)


_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_NONCES = st.one_of(st.integers(0, 3), st.sampled_from([2**96 - 2, 2**96 - 1, 2**96, 2**256 - 1]))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_voucher_the_host_accepts_is_claimable_on_chain(services, host, signer, data):
    """Issue 9 item 1 as a property: host accepts => PaymentChannels.claim succeeds."""
    channels = services.contracts.channels
    deposit = data.draw(st.sampled_from([PRICE, 3 * PRICE, 20 * ALT]), label="deposit")
    token = services.contracts.token
    if token.balanceOf(services.consumer.address) < deposit:
        token.mint(services.consumer.address, 100 * ALT, sender=services.platform.operator)
    lifetime = data.draw(st.sampled_from([650, 601 + DAY // 24, DAY]), label="lifetime")
    channel = channels.open(
        services.consumer, services.listing.model_id, deposit, _chain_now(services) + lifetime
    )
    # Each field valid (first choice) or at one of its edges, so that accepted vouchers
    # are common and every bound is reached.
    nonce = data.draw(st.one_of(st.just(1), _NONCES), label="nonce")
    amount = data.draw(
        st.one_of(
            st.just(PRICE),
            st.sampled_from([0, PRICE - 1, 2 * PRICE, deposit - 1, deposit, deposit + 1]),
            st.integers(0, 2**256 - 1),
        ),
        label="amount",
    )
    channel_id = channel.channel_id + data.draw(st.sampled_from([0, 0, 0, 1, -1]), label="id")
    account = data.draw(
        st.sampled_from([services.consumer, services.consumer, services.owner]), label="signer"
    )
    voucher = signer.sign(account, channel_id, nonce, amount)
    if data.draw(st.sampled_from([False, False, True]), label="high s"):  # malleable twin
        raw = voucher.signature
        s_high = (_SECP256K1_N - int.from_bytes(raw[32:64], "big")).to_bytes(32, "big")
        voucher = Voucher(channel_id, nonce, amount, raw[:32] + s_high + bytes([raw[64] ^ 1]))
    request = {
        "input": services.model.examples[0],
        "salt": "0x" + os.urandom(32).hex(),
        "voucher": voucher.to_dict(),
    }
    try:
        host.handle(request)
    except PaymentRequiredError:
        return
    claimed_before = channels.get(channel_id).claimed
    result = channels.claim(services.owner, voucher)  # raises RevertError if unclaimable
    assert result.paid == amount - claimed_before


@pytest.mark.parametrize("domain", ["another chain", "another contract"])
def test_voucher_signed_for_another_channels_domain_is_refused(host, services, channel, domain):
    chain_id, address = services.platform.chain.chain_id, services.contracts.channels.address
    if domain == "another chain":
        chain_id += 1
    else:
        address = services.contracts.token.address
    voucher = VoucherSigner(chain_id, address).sign(services.consumer, channel.channel_id, 1, PRICE)
    request = {
        "input": services.model.examples[0],
        "salt": "0x" + os.urandom(32).hex(),
        "voucher": voucher.to_dict(),
    }
    _refused(host, request, "expected the consumer", "voucher.signature")
