"""ServiceClient.call_batch: one voucher for N calls, every item verified, each item provable."""

from __future__ import annotations

import pytest

from ailedger.errors import IntegrityError, InvalidInputError
from ailedger.services import (
    LocalTransport,
    PaidBatch,
    PaymentRequiredError,
    ServiceClient,
    verify_call_proof,
)
from tests.services.conftest import PRICE


class TamperingTransport(LocalTransport):
    """A host whose batch answers are altered on the way back by ``tamper(response)``."""

    def __init__(self, host, tamper) -> None:
        super().__init__(host)
        self.tamper = tamper

    def call_batch(self, request):
        response = super().call_batch(request)
        self.tamper(response)
        return response


def _tampering_client(services, host, tamper) -> ServiceClient:
    transport = TamperingTransport(host, tamper)
    return services.client(None, transport=transport)


def test_call_batch_returns_verified_outputs_in_input_order(client, services):
    examples = services.model.examples[:5]
    batch = client.call_batch(client.discover("diagnosis"), examples)
    assert isinstance(batch, PaidBatch) and len(batch) == 5
    assert batch.outputs == [services.model.predict(x) for x in examples]
    assert (batch.receipt.count, batch.receipt.amount) == (5, 5 * PRICE)
    assert [item.index for item in batch.items] == list(range(5))


def test_call_batch_pays_n_prices_with_one_voucher(client, services, host):
    batch = client.call_batch(client.discover("diagnosis"), services.model.examples[:4])
    assert (batch.voucher.nonce, batch.voucher.amount) == (1, 4 * PRICE)
    assert client.spent(batch.voucher.channel_id) == 4 * PRICE
    latest = host.store.latest(batch.voucher.channel_id)
    assert (latest.voucher, latest.calls) == (batch.voucher, 4)


def test_calls_after_a_batch_continue_the_channel(client, services):
    listing = client.discover("diagnosis")
    batch = client.call_batch(listing, services.model.examples[:3])
    call = client.call(listing, services.model.examples[3])
    assert call.voucher.channel_id == batch.voucher.channel_id
    assert (call.voucher.nonce, call.voucher.amount) == (2, 4 * PRICE)


def test_every_item_of_a_batch_proves_on_chain(client, services, host):
    batch = client.call_batch(client.discover("diagnosis"), services.model.examples[:3])
    host.anchor_now()
    for index in (0, 2):
        report = client.prove(batch, item=index)
        assert report.receipt == batch.receipt
        assert report.item == batch.items[index]
        assert report.log_index == batch.log_index + index


def test_proof_of_a_batch_item_verifies_for_a_stranger(client, services, host):
    listing = client.discover("diagnosis")
    batch = client.call_batch(listing, services.model.examples[:3])
    host.anchor_now()  # the operator anchors (GET /proofs never does)
    proof = client.proof(listing, batch, item=1)
    report = verify_call_proof(proof, services.platform.chain, services.contracts.registry)
    assert (report.model_name, report.item.index) == ("diagnosis", 1)


def test_proof_of_a_batch_item_with_an_altered_item_is_refused(client, services, host):
    listing = client.discover("diagnosis")
    batch = client.call_batch(listing, services.model.examples[:3])
    host.anchor_now()  # the operator anchors (GET /proofs never does)
    proof = client.proof(listing, batch, item=1)
    proof["record"] = proof["record"].replace('"index":1', '"index":2')
    with pytest.raises(IntegrityError, match="not in the batch"):
        verify_call_proof(proof, services.platform.chain, services.contracts.registry)


def test_proving_an_item_beyond_the_batch_is_refused(client, services):
    batch = client.call_batch(client.discover("diagnosis"), services.model.examples[:2])
    with pytest.raises(InvalidInputError, match="item: expected an index below 2, got 2"):
        client.prove(batch, item=2)


# --- bad input on the client: nothing is paid -------------------------------------------------


def test_empty_batch_is_refused_before_paying(client, services, host):
    with pytest.raises(InvalidInputError, match="empty batch") as raised:
        client.call_batch(client.discover("diagnosis"), [])
    assert raised.value.field == "inputs"
    assert host.store.all() == []


def test_batch_of_a_single_object_is_refused(client, services):
    with pytest.raises(InvalidInputError, match="expected a list of input objects, got dict"):
        client.call_batch(client.discover("diagnosis"), services.model.examples[0])


def test_batch_item_that_is_not_an_object_is_named(client, services):
    with pytest.raises(InvalidInputError) as raised:
        client.call_batch(client.discover("diagnosis"), [services.model.examples[0], 42])
    assert raised.value.field == "inputs[1]"


def test_batch_beyond_the_channels_deposit_is_refused_before_sending(client, services, host):
    listing = client.discover("diagnosis")
    channel = client.open_channel(listing, 2 * PRICE)
    with pytest.raises(PaymentRequiredError, match="below 3 x the price"):
        client.call_batch(listing, services.model.examples[:3], channel=channel)
    assert host.store.latest(channel.channel_id) is None


def test_batch_larger_than_the_open_channel_gets_a_channel_that_can_pay(client, services):
    listing = client.discover("diagnosis")
    small = client.open_channel(listing, 2 * PRICE)
    batch = client.call_batch(listing, services.model.examples[:3])
    assert batch.voucher.channel_id != small.channel_id


# --- a host that alters its answer is caught --------------------------------------------------


def _altered_output(response):
    response["outputs"][1] = {**response["outputs"][1], "diagnosis": "altered"}


def _dropped_output(response):
    response["outputs"].pop()


def _altered_count(response):
    response["receipt"]["count"] += 1


def _swapped_leaves(response):
    leaves = response["leaf_hashes"]
    leaves[0], leaves[1] = leaves[1], leaves[0]


def _unencodable_output(response):
    response["outputs"][0] = {"p": float("nan")}


@pytest.mark.parametrize(
    ("tamper", "match", "field"),
    [
        (_altered_output, "items_root does not commit", "receipt.items_root"),
        (_dropped_output, "2 outputs for 3 inputs", "outputs"),
        (_altered_count, "receipt: signed by", "receipt.signature"),
        (_swapped_leaves, "log leaves the host reported", "leaf_hashes"),
        (_unencodable_output, "only finite numbers", "outputs"),
    ],
)
def test_tampered_batch_response_is_detected(services, host, tamper, match, field):
    client = _tampering_client(services, host, tamper)
    with pytest.raises(IntegrityError, match=match) as raised:
        client.call_batch(client.discover("diagnosis"), services.model.examples[:3])
    assert raised.value.field == field
