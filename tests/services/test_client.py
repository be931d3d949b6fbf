"""ServiceClient: discovery, channels, paid calls, receipt checks and proofs of calls."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger import contracts
from ailedger.core.chain import deploy
from ailedger.errors import IntegrityError, NotFoundError
from ailedger.services import (
    LocalTransport,
    ModelDeprecatedError,
    ModelRegistryClient,
    PaymentRequiredError,
    ServiceClient,
    Voucher,
    VoucherSigner,
    verify_call_proof,
)
from ailedger.services.errors import AmbiguousModelError
from ailedger.services.records import ConsumerRecords
from tests.services.conftest import ALT, PRICE


class TamperingTransport(LocalTransport):
    """A host whose answers are altered on the way back by ``tamper(response)``."""

    def __init__(self, host, tamper) -> None:
        super().__init__(host)
        self.tamper = tamper

    def call(self, request):
        response = super().call(request)
        self.tamper(response)
        return response


def _client_with(services, transport) -> ServiceClient:
    return services.client(None, transport=transport)


def _forgetful_client(services, host, tmp_path) -> ServiceClient:
    """The consumer with its records lost (or on another machine with this key)."""
    return ServiceClient(
        services.consumer,
        services.contracts.registry,
        services.contracts.channels,
        records=ConsumerRecords(tmp_path / "lost.sqlite3"),
        transport_for=lambda _listing: LocalTransport(host),
    )


# --- discovery and channels -------------------------------------------------------------------


def test_discover_finds_the_listing_by_name(client, services):
    assert client.discover("diagnosis") == services.listing


def test_discover_of_an_unknown_name_is_not_found(client):
    with pytest.raises(NotFoundError, match="no model named 'nope'"):
        client.discover("nope")


def test_discover_of_a_deprecated_model_says_so(client, services):
    services.contracts.registry.deprecate(services.owner, services.listing.model_id)
    with pytest.raises(ModelDeprecatedError, match="'diagnosis' is deprecated"):
        client.discover("diagnosis")


def test_first_call_opens_a_channel_and_later_calls_reuse_it(client, services):
    listing = client.discover("diagnosis")
    first = client.call(listing, services.model.examples[0])
    second = client.call(listing, services.model.examples[1])
    assert first.voucher.channel_id == second.voucher.channel_id
    assert (second.voucher.nonce, second.voucher.amount) == (2, 2 * PRICE)
    assert len(services.contracts.channels.opened(consumer=services.consumer.address)) == 1


def test_new_client_reuses_the_channel_and_continues_its_vouchers(client, services, host):
    listing = client.discover("diagnosis")
    client.call(listing, services.model.examples[0])
    client.call(listing, services.model.examples[0])
    fresh = services.client(host)
    third = fresh.call(listing, services.model.examples[0])
    assert (third.voucher.nonce, third.voucher.amount) == (3, 3 * PRICE)


def test_exhausted_channel_is_replaced_by_a_new_one(client, services):
    listing = client.discover("diagnosis")
    first = client.call(listing, services.model.examples[0], deposit=PRICE)
    second = client.call(listing, services.model.examples[0], deposit=PRICE)
    assert second.voucher.channel_id != first.voucher.channel_id


def test_call_beyond_an_explicit_channels_deposit_is_refused_before_sending(client, services):
    listing = client.discover("diagnosis")
    channel = client.open_channel(listing, PRICE)
    client.call(listing, services.model.examples[0], channel=channel)
    with pytest.raises(PaymentRequiredError, match="below the price"):
        client.call(listing, services.model.examples[0], channel=channel)


def test_opening_a_channel_locks_the_deposit(client, services):
    token = services.contracts.token
    before = token.balanceOf(services.consumer.address)
    channel = client.open_channel(client.discover("diagnosis"), 2 * ALT)
    assert token.balanceOf(services.consumer.address) == before - 2 * ALT
    assert (channel.deposit, channel.consumer) == (2 * ALT, services.consumer.address)


# --- receipts ---------------------------------------------------------------------------------


def test_call_returns_output_and_a_verified_receipt(client, services):
    call = client.call(client.discover("diagnosis"), services.model.examples[3])
    assert call.output == services.model.predict(services.model.examples[3])
    assert call.receipt.service == services.owner.address
    assert call.receipt.amount == PRICE


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda r: r["output"].update(diagnosis="benign", p_malignant=0.01), "response_hash"),
        (lambda r: r["receipt"].update(amount=r["receipt"]["amount"] + 1), "altered"),
        (lambda r: r["receipt"].update(signature="0x" + "00" * 65), "receipt"),
        (lambda r: r.update(leaf_hash="0x" + "00" * 32), "log leaf"),
        (lambda r: r.pop("receipt"), "malformed"),
    ],
)
def test_tampered_response_is_detected(services, host, tamper, message):
    client = _client_with(services, TamperingTransport(host, tamper))
    with pytest.raises(IntegrityError, match=message):
        client.call(client.discover("diagnosis"), services.model.examples[0])


def test_receipt_from_another_key_is_detected(services, host):
    def resign(response):
        response["receipt"]["service"] = services.consumer.address

    client = _client_with(services, TamperingTransport(host, resign))
    with pytest.raises(IntegrityError, match="expected the model owner"):
        client.call(client.discover("diagnosis"), services.model.examples[0])


def test_lost_response_is_recovered_from_the_hosts_latest_voucher(client, services, host):
    listing = client.discover("diagnosis")
    client.call(listing, services.model.examples[0])
    # Another client of the same account pays for a call this client never hears of.
    other = services.client(host)
    other.call(listing, services.model.examples[0])
    resumed = client.call(listing, services.model.examples[0])
    assert (resumed.voucher.nonce, resumed.voucher.amount) == (3, 3 * PRICE)


# --- proofs -----------------------------------------------------------------------------------


def test_call_is_proven_from_receipt_and_anchored_log(client, services, host):
    listing = client.discover("diagnosis")
    calls = [client.call(listing, services.model.examples[i]) for i in range(5)]
    host.anchor_now()  # the operator anchors (GET /proofs never does)
    report = client.prove(calls[2], listing)
    assert report.log_index == calls[2].log_index
    assert report.receipt == calls[2].receipt
    assert report.model_name == "diagnosis"
    assert report.tree_size >= 5


def test_proof_verifies_for_a_stranger_with_only_chain_access(client, services, host):
    listing = client.discover("diagnosis")
    call = client.call(listing, services.model.examples[0])
    host.anchor_now()  # the operator anchors (GET /proofs never does)
    proof = json.loads(json.dumps(client.proof(listing, call)))
    report = verify_call_proof(proof, services.platform.chain, services.contracts.registry)
    assert report.receipt == call.receipt


def test_proof_with_an_altered_record_fails(client, services, host):
    listing = client.discover("diagnosis")
    call = client.call(listing, services.model.examples[0])
    host.anchor_now()  # the operator anchors (GET /proofs never does)
    proof = client.proof(listing, call)
    proof["record"] = proof["record"].replace('"nonce":1', '"nonce":2')
    with pytest.raises(IntegrityError):
        verify_call_proof(proof, services.platform.chain, services.contracts.registry)


def test_proof_of_another_call_does_not_prove_this_one(client, services, host):
    listing = client.discover("diagnosis")
    first = client.call(listing, services.model.examples[0])
    second = client.call(listing, services.model.examples[1])
    host.anchor_now()  # the operator anchors (GET /proofs never does)
    proof = client.proof(listing, first)
    with pytest.raises(IntegrityError, match="differs from the receipt of the call"):
        verify_call_proof(
            proof,
            services.platform.chain,
            services.contracts.registry,
            expected_receipt=second.receipt,
        )


def test_proof_with_a_forged_tree_head_fails(client, services, host):
    listing = client.discover("diagnosis")
    call = client.call(listing, services.model.examples[0])
    host.anchor_now()  # the operator anchors (GET /proofs never does)
    proof = client.proof(listing, call)
    proof["tree_head"]["signature"] = "0x" + "11" * 65
    with pytest.raises(IntegrityError):
        verify_call_proof(proof, services.platform.chain, services.contracts.registry)


# --- settlement -------------------------------------------------------------------------------


def test_no_double_spending_across_calls_claims_and_withdrawals(client, services, host):
    listing = client.discover("diagnosis")
    for i in range(7):
        client.call(listing, services.model.examples[i])
    host.claim_all()
    channels, token = services.contracts.channels, services.contracts.token
    before = token.balanceOf(services.owner.address)
    assert channels.withdraw(services.owner) == 7 * PRICE
    assert token.balanceOf(services.owner.address) == before + 7 * PRICE
    assert channels.withdraw(services.owner) == 0


# --- dishonest hosts and registrants (issue 9) ------------------------------------------------


def test_client_pays_by_its_own_records_not_the_hosts_report(services, host):
    """A host reporting its channel as nearly spent gets one price, not the whole deposit."""
    from fastapi.testclient import TestClient

    from ailedger.services import HttpTransport, create_host_app

    honest_status = host.channel_status

    def lying_status(channel_id):
        status = honest_status(channel_id)
        status["channel"]["claimed"] = status["channel"]["deposit"] - PRICE
        status["channel"]["nonce"] = 41
        return status

    services.client(host).call(services.listing, services.model.examples[0])
    host.channel_status = lying_status
    with TestClient(create_host_app(host, close_on_shutdown=False)) as http:
        # A fresh client (every `ailedger services call` run is one) on the same channel.
        client = _client_with(services, HttpTransport("http://testserver", client=http))
        paid = client.call(client.discover("diagnosis"), services.model.examples[0])
    assert (paid.voucher.nonce, paid.voucher.amount) == (2, 2 * PRICE)


def test_host_claiming_more_than_the_client_signed_is_refused(services, host):
    """A host that refuses every voucher and reports the channel as nearly spent."""
    client = services.client(host)
    client.call(services.listing, services.model.examples[0])
    honest_status = host.channel_status

    def lying_status(channel_id):
        status = honest_status(channel_id)
        status["channel"]["claimed"] = status["channel"]["deposit"] - PRICE
        return status

    def refuse(_request):
        raise PaymentRequiredError("voucher: amount below price", field="voucher.amount")

    host.channel_status, host.handle = lying_status, refuse
    with pytest.raises(IntegrityError, match="above the last voucher this account signed"):
        client.call(services.listing, services.model.examples[0])


def test_hosts_copy_of_a_voucher_beyond_the_clients_records_is_refused(services, host, tmp_path):
    """Records lost (or another machine with this key): the host's word does not restore
    them, even with a voucher of ours."""
    earlier = services.client(host)
    for example in services.model.examples[:2]:
        earlier.call(services.listing, example)
    forgetful = _forgetful_client(services, host, tmp_path)
    with pytest.raises(IntegrityError, match="nonce 2 for 20000000000000000, above"):
        forgetful.call(services.listing, services.model.examples[0])


def _register_impostor(services, registry=None):
    impostor = services.platform.account("mallory", create=True, fund_wei=10**18)
    return (registry or services.contracts.registry).register(
        impostor,
        "diagnosis",
        model_hash=b"\x01" * 32,
        card_hash=b"\x02" * 32,
        price=100 * PRICE,
        endpoint="http://127.0.0.1:9",
        log_id=b"\x03" * 32,
    )


def test_impostor_registering_the_same_name_makes_the_bare_name_ambiguous(client, services):
    client.call(client.discover("diagnosis"), services.model.examples[0])
    impostor = _register_impostor(services)
    with pytest.raises(AmbiguousModelError, match="ambiguous") as raised:
        client.discover("diagnosis")
    assert services.owner.address in raised.value.message
    assert impostor.owner in raised.value.message
    assert f"used the one of owner {services.owner.address} before" in raised.value.message
    assert client.discover("diagnosis", services.owner.address.lower()) == services.listing


def test_registry_resolving_a_pinned_name_to_another_owner_is_refused(client, services):
    client.call(client.discover("diagnosis"), services.model.examples[0])
    # Another registry (redeployed, or a look-alike) where only the impostor has the name.
    artifact = contracts.load("ModelRegistry")
    anchors = services.platform.contract("AnchorRegistry").address
    chain = services.platform.chain
    other = ModelRegistryClient(
        deploy(chain, artifact.abi, artifact.bytecode, anchors, sender=services.owner)
    )
    _register_impostor(services, other)
    moved = ServiceClient(
        services.consumer,
        other,
        services.contracts.channels,
        records=services.records(),
        transport_for=lambda _listing: pytest.fail("no call may be made"),
    )
    with pytest.raises(IntegrityError, match="but this account used") as raised:
        moved.discover("diagnosis")
    assert raised.value.field == "name"


def test_bare_name_of_a_single_owner_is_pinned_at_first_use(client, services):
    assert client.records.pinned("diagnosis") is None
    client.call(client.discover("diagnosis"), services.model.examples[0])
    pin = client.records.pinned("diagnosis")
    assert (pin.owner, pin.model_id) == (services.owner.address, services.listing.model_id)


class _LyingHost:
    """Refuses every voucher (402) and reports whatever it was told to; keeps what it got."""

    def __init__(self, status) -> None:
        self.status = status
        self.received: list[Voucher] = []

    def call(self, request):
        self.received.append(Voucher.from_dict(request["voucher"]))
        raise PaymentRequiredError("voucher: amount below price", field="voucher.amount")

    def channel(self, channel_id):
        return self.status(channel_id, self.received)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_host_report_makes_a_call_commit_more_than_one_price(services, host, data):
    """Issue 9 item 2 as a property: whatever a host reports, one call raises what the
    consumer ever signed on the channel by at most the price."""
    client = services.client(host)
    listing = services.listing
    channel = client.channel_for(listing, deposit=ALT)
    ref = client._ref(channel)
    if data.draw(st.booleans(), label="an honest call first"):
        client.call(listing, services.model.examples[0], channel=channel)
    before = services.records().channel(ref)
    signed_before = before.signed_amount if before else 0
    claimed = data.draw(st.one_of(st.integers(0, ALT), st.none()), label="claimed")
    nonce = data.draw(st.one_of(st.integers(0, 2**96), st.none()), label="nonce")
    shown = data.draw(
        st.sampled_from(["none", "last received", "earlier of ours", "forged", "junk"]),
        label="voucher shown",
    )
    signer = client.vouchers

    def status(channel_id, received):
        latest = None
        if shown == "last received" and received:
            latest = received[-1].to_dict()
        elif shown == "earlier of ours" and before and before.signed_nonce:
            latest = signer.sign(
                services.consumer, channel_id, before.signed_nonce, before.signed_amount
            ).to_dict()
        elif shown == "forged":
            latest = signer.sign(services.owner, channel_id, 10**6, ALT).to_dict()
        elif shown == "junk":
            latest = {"channel_id": "x"}
        return {"channel": {"nonce": nonce, "claimed": claimed}, "latest_voucher": latest}

    lying = _LyingHost(status)
    client = services.client(host, transport=lying)
    with pytest.raises((IntegrityError, PaymentRequiredError)):
        client.call(listing, services.model.examples[0], channel=channel)
    assert lying.received, "the first voucher is always sent"
    assert max(v.amount for v in lying.received) <= signed_before + PRICE


def test_lost_records_are_rebuilt_from_the_chain_and_our_own_signatures(services, host, tmp_path):
    """Records lost: the client refused the channel with no way out. Rebuilding takes the
    chain's claim and a voucher of ours the host holds, never its unsigned report."""
    earlier = services.client(host)
    for example in services.model.examples[:3]:
        earlier.call(services.listing, example)
    host.claim_all()  # the chain knows nonce 3 ...
    earlier.call(services.listing, services.model.examples[3])  # ... the host also holds 4
    forgetful = _forgetful_client(services, host, tmp_path)
    with pytest.raises(IntegrityError, match="yet reports holding it"):
        forgetful.call(services.listing, services.model.examples[0])
    (chain_only,) = forgetful.rebuild_records(ask_hosts=False).values()
    assert (chain_only.accepted_nonce, chain_only.accepted_amount) == (3, 3 * PRICE)
    (record,) = forgetful.rebuild_records().values()
    assert (record.signed_nonce, record.accepted_amount) == (4, 4 * PRICE)
    paid = forgetful.call(services.listing, services.model.examples[0])
    assert (paid.voucher.nonce, paid.voucher.amount) == (5, 5 * PRICE)


def test_a_host_copy_not_signed_by_us_does_not_rebuild_records(services, host, tmp_path):
    earlier = services.client(host)
    earlier.call(services.listing, services.model.examples[0])
    honest_status = host.channel_status

    def forged_status(channel_id):
        status = honest_status(channel_id)
        forged = VoucherSigner(
            services.platform.chain.chain_id, services.contracts.channels.address
        )
        status["latest_voucher"] = forged.sign(services.owner, channel_id, 9, 9 * PRICE).to_dict()
        return status

    host.channel_status = forged_status
    forgetful = _forgetful_client(services, host, tmp_path)
    (record,) = forgetful.rebuild_records().values()
    assert (record.signed_nonce, record.accepted_amount) == (0, 0)


def test_saved_calls_rebuild_records_only_with_the_owners_receipt(services, host, tmp_path):
    paid = services.client(host).call(services.listing, services.model.examples[0])
    forgetful = _forgetful_client(services, host, tmp_path)
    (record,) = forgetful.rebuild_records([paid.to_dict()], ask_hosts=False).values()
    assert (record.signed_nonce, record.accepted_amount) == (1, PRICE)
    altered = paid.to_dict()
    altered["receipt"]["amount"] = 50 * PRICE
    with pytest.raises(IntegrityError):
        forgetful.rebuild_records([altered], ask_hosts=False)
