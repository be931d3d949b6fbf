"""ServiceHost batches: N inputs, one voucher of N prices, one receipt, N log records, all or
nothing."""

from __future__ import annotations

import json
import os
import time

import pytest

from ailedger.core.identity import canonical_json
from ailedger.core.log import hash_leaf, merkle
from ailedger.errors import InvalidInputError
from ailedger.services import (
    BatchItem,
    BatchReceipt,
    ModelDeprecatedError,
    PaymentRequiredError,
    VoucherSigner,
)
from ailedger.services.batches import (
    BATCH_RECORD_KIND,
    batch_items,
    encode_batch_lines,
    verify_item,
)
from tests.services.conftest import ALT, PRICE

DAY = 86_400


@pytest.fixture
def channel(services):
    """A channel of the consumer to the diagnosis model: 1 ALT (100 calls), one day."""
    chain = services.platform.chain
    now = max(int(time.time()), chain.get_block(chain.block_number()).timestamp)
    return services.contracts.channels.open(
        services.consumer, services.listing.model_id, ALT, now + DAY
    )


@pytest.fixture
def pay_batch(services, channel):
    """A batch request of ``inputs`` (default: the first ``count`` examples) paying ``amount``."""
    signer = VoucherSigner(services.platform.chain.chain_id, services.contracts.channels.address)

    def _pay(nonce: int, amount: int, *, count: int = 3, inputs=None):
        voucher = signer.sign(services.consumer, channel.channel_id, nonce, amount)
        return {
            "inputs": inputs if inputs is not None else services.model.examples[:count],
            "salt": "0x" + os.urandom(32).hex(),
            "voucher": voucher.to_dict(),
        }

    return _pay


def _refused(host, request, error, match: str, field: str):
    store_before = host.store.all()
    log_before = host.log.size
    with pytest.raises(error, match=match) as raised:
        host.handle_batch(request)
    assert raised.value.field == field
    assert host.store.all() == store_before
    assert host.log.size == log_before


# --- a good batch -----------------------------------------------------------------------------


def test_batch_returns_the_outputs_in_input_order(host, pay_batch, services):
    response = host.handle_batch(pay_batch(1, 3 * PRICE))
    assert response["outputs"] == [services.model.predict(x) for x in services.model.examples[:3]]


def test_batch_outputs_equal_single_call_outputs_for_every_example(model):
    rows = [model.validate(x) for x in model.examples]
    assert model.score_many(rows) == [model.score(row) for row in rows]


def test_batch_receipt_commits_to_every_item(host, pay_batch, services, channel):
    request = pay_batch(1, 3 * PRICE)
    response = host.handle_batch(request)
    receipt = BatchReceipt.from_dict(response["receipt"])
    host.receipts.verify(receipt, services.owner.address)
    root, _ = batch_items(
        bytes.fromhex(request["salt"][2:]), request["inputs"], response["outputs"]
    )
    assert (receipt.count, receipt.items_root, receipt.price) == (3, root, PRICE)
    assert (receipt.channel_id, receipt.nonce, receipt.amount) == (channel.channel_id, 1, 3 * PRICE)


def test_batch_appends_one_record_per_item(host, pay_batch):
    before = host.log.size
    response = host.handle_batch(pay_batch(1, 3 * PRICE))
    assert response["log_index"] == before and host.log.size == before + 3
    receipt = BatchReceipt.from_dict(response["receipt"])
    for i, leaf in enumerate(response["leaf_hashes"]):
        record = host.log.record(before + i)
        assert hash_leaf(record) == bytes.fromhex(leaf[2:])
        document = json.loads(record)
        assert document["kind"] == BATCH_RECORD_KIND
        assert BatchReceipt.from_dict(document["receipt"]) == receipt
        item = BatchItem.from_dict(document["item"])
        assert item.index == i
        verify_item(receipt, item)


def test_batch_stores_its_voucher_once_counting_every_call(host, pay_batch, channel):
    host.handle_batch(pay_batch(1, 3 * PRICE))
    latest = host.store.latest(channel.channel_id)
    assert (latest.voucher.nonce, latest.voucher.amount, latest.calls) == (1, 3 * PRICE, 3)


def test_single_calls_and_batches_share_the_channels_voucher_sequence(
    host, pay_batch, services, channel
):
    host.handle_batch(pay_batch(1, 3 * PRICE))
    signer = VoucherSigner(services.platform.chain.chain_id, services.contracts.channels.address)
    voucher = signer.sign(services.consumer, channel.channel_id, 2, 4 * PRICE)
    host.handle(
        {
            "input": services.model.examples[0],
            "salt": "0x" + os.urandom(32).hex(),
            "voucher": voucher.to_dict(),
        }
    )
    host.handle_batch(pay_batch(3, 6 * PRICE, count=2))
    assert host.store.latest(channel.channel_id).calls == 6


def test_batch_of_the_maximum_size_is_taken(services, pay_batch):
    host = services.host(max_batch=4)
    try:
        response = host.handle_batch(pay_batch(1, 4 * PRICE, count=4))
        assert len(response["outputs"]) == 4
    finally:
        host.close()


def test_batch_of_one_item_has_an_empty_path(host, pay_batch):
    response = host.handle_batch(pay_batch(1, PRICE, count=1))
    record = json.loads(host.log.record(response["log_index"]))
    assert record["item"]["path"] == []
    receipt = BatchReceipt.from_dict(response["receipt"])
    assert receipt.items_root == merkle.hash_leaf(
        BatchItem.from_dict(record["item"]).request_hash
        + BatchItem.from_dict(record["item"]).response_hash
    )


# --- bad batches: rejected whole, nothing stored ----------------------------------------------


def test_batch_with_one_bad_item_is_rejected_entirely(host, pay_batch, services):
    inputs = [dict(x) for x in services.model.examples[:3]]
    inputs[2]["mean area"] = "large"
    _refused(
        host,
        pay_batch(1, 3 * PRICE, inputs=inputs),
        InvalidInputError,
        r"inputs\[2\]: input.mean area: expected a finite number",
        "inputs[2].mean area",
    )


def test_batch_with_an_item_missing_a_feature_names_item_and_feature(host, pay_batch, services):
    inputs = [dict(x) for x in services.model.examples[:2]]
    del inputs[1]["mean radius"]
    _refused(
        host,
        pay_batch(1, 2 * PRICE, inputs=inputs),
        InvalidInputError,
        r"inputs\[1\]: input: missing 1 feature",
        "inputs[1].mean radius",
    )


def test_batch_with_a_non_object_item_is_rejected(host, pay_batch, services):
    inputs = [services.model.examples[0], [1, 2, 3]]
    _refused(
        host,
        pay_batch(1, 2 * PRICE, inputs=inputs),
        InvalidInputError,
        r"inputs\[1\]: expected a JSON object, got list",
        "inputs[1]",
    )


def test_empty_batch_is_rejected(host, pay_batch):
    _refused(host, pay_batch(1, PRICE, inputs=[]), InvalidInputError, "empty batch", "inputs")


def test_batch_that_is_not_a_list_is_rejected(host, pay_batch, services):
    request = pay_batch(1, PRICE, inputs=services.model.examples[0])
    _refused(host, request, InvalidInputError, "expected a JSON array .* got dict", "inputs")


def test_batch_above_the_maximum_is_rejected(services, pay_batch):
    host = services.host(max_batch=2)
    try:
        _refused(
            host,
            pay_batch(1, 3 * PRICE, count=3),
            InvalidInputError,
            "batch of 3 inputs is above this host's maximum of 2",
            "inputs",
        )
    finally:
        host.close()


def test_voucher_below_n_prices_is_refused(host, pay_batch):
    _refused(
        host,
        pay_batch(1, 3 * PRICE - 1, count=3),
        PaymentRequiredError,
        rf"amount below price .* expected at least 0 \+ 3 x {PRICE} = {3 * PRICE}",
        "voucher.amount",
    )


def test_batch_voucher_with_a_stale_nonce_is_refused(host, pay_batch):
    host.handle_batch(pay_batch(1, 3 * PRICE))
    _refused(
        host,
        pay_batch(1, 6 * PRICE),
        PaymentRequiredError,
        "stale nonce .* expected above 1, got 1",
        "voucher.nonce",
    )


def test_batch_without_voucher_is_refused_naming_the_price(host, pay_batch):
    request = pay_batch(1, 3 * PRICE)
    del request["voucher"]
    _refused(host, request, PaymentRequiredError, f"costs {PRICE} ALT wei, a batch of N", "voucher")


def test_batch_signed_by_someone_else_is_refused(host, pay_batch, services, channel):
    request = pay_batch(1, 3 * PRICE)
    signer = VoucherSigner(services.platform.chain.chain_id, services.contracts.channels.address)
    request["voucher"] = signer.sign(services.owner, channel.channel_id, 1, 3 * PRICE).to_dict()
    _refused(host, request, PaymentRequiredError, "signed by", "voucher.signature")


def test_batch_with_a_bad_salt_is_rejected(host, pay_batch):
    request = pay_batch(1, 3 * PRICE)
    request["salt"] = "0x1234"
    _refused(host, request, InvalidInputError, "salt: expected 0x-prefixed hex", "salt")


def test_batch_to_a_deprecated_model_is_refused(services, pay_batch):
    services.contracts.registry.deprecate(services.owner, services.listing.model_id)
    host = services.host()
    try:
        _refused(host, pay_batch(1, 3 * PRICE), ModelDeprecatedError, "is deprecated", "model")
    finally:
        host.close()


def test_failed_batch_leaves_the_voucher_usable(host, pay_batch, services):
    inputs = [dict(x) for x in services.model.examples[:2]]
    inputs[0]["mean area"] = None
    with pytest.raises(InvalidInputError):
        host.handle_batch(pay_batch(1, 2 * PRICE, inputs=inputs))
    response = host.handle_batch(pay_batch(1, 2 * PRICE, count=2))  # the same nonce again
    assert len(response["outputs"]) == 2


def test_max_batch_must_be_positive(services):
    with pytest.raises(InvalidInputError, match="max_batch: expected a positive integer"):
        services.host(max_batch=0)


# --- a batch sent as lines: the host hashes each input's bytes as received ------------------


def _lines(request) -> bytes:
    envelope = {key: value for key, value in request.items() if key != "inputs"}
    return encode_batch_lines(envelope, [canonical_json(x) for x in request["inputs"]])


def test_batch_lines_get_the_receipt_the_same_batch_as_json_would(host, pay_batch, services):
    request = pay_batch(1, 3 * PRICE)
    answer = host.handle_batch_lines(_lines(request))
    assert answer["outputs"] == [services.model.predict(x) for x in request["inputs"]]
    salt = bytes.fromhex(request["salt"][2:])
    root, _ = batch_items(salt, request["inputs"], answer["outputs"])  # canonical re-encoding
    assert BatchReceipt.from_dict(answer["receipt"]).items_root == root


def test_batch_lines_with_a_bad_item_store_nothing_and_name_item_and_feature(
    host, pay_batch, services
):
    inputs = [dict(x) for x in services.model.examples[:2]]
    inputs[1]["mean area"] = "big"
    store_before, log_before = host.store.all(), host.log.size
    with pytest.raises(InvalidInputError, match=r"inputs\[1\]") as raised:
        host.handle_batch_lines(_lines(pay_batch(1, 2 * PRICE, inputs=inputs)))
    assert raised.value.field == "inputs[1].mean area"
    assert (host.store.all(), host.log.size) == (store_before, log_before)


def test_batch_lines_above_the_hosts_maximum_are_refused(services, pay_batch):
    small = services.host(max_batch=2)
    try:
        with pytest.raises(InvalidInputError, match="maximum of 2") as raised:
            small.handle_batch_lines(_lines(pay_batch(1, 3 * PRICE)))
        assert raised.value.field == "inputs"
    finally:
        small.close()


def test_batch_lines_without_voucher_are_refused(host, pay_batch):
    request = pay_batch(1, 3 * PRICE)
    del request["voucher"]
    with pytest.raises(PaymentRequiredError) as raised:
        host.handle_batch_lines(_lines(request))
    assert raised.value.field == "voucher"
