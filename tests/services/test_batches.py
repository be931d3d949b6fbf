"""Batch building blocks: item salts, the items' Merkle tree, batch receipts and log records."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from ailedger.core.identity import canonical_json
from ailedger.core.log import merkle
from ailedger.errors import IntegrityError, InvalidInputError
from ailedger.services import BatchItem, BatchReceipt, ReceiptSigner, Voucher, commit
from ailedger.services.batches import (
    BATCH_RECORD_KIND,
    ItemTree,
    batch_items,
    batch_records,
    decode_batch_lines,
    encode_batch_lines,
    item_salt,
    verify_item,
)

SERVICE = Account.from_key(b"\x07" * 32)
SIGNER = ReceiptSigner(31337, "0x" + "22" * 20)
SALT = bytes(range(32))
INPUTS = [{"x": float(i), "label": f"row {i}"} for i in range(5)]
OUTPUTS = [{"score": i / 10} for i in range(5)]


def _receipt(root: bytes, count: int = 5) -> BatchReceipt:
    unsigned = BatchReceipt(
        model_id=b"\x01" * 32,
        model_hash=b"\x02" * 32,
        log_id=b"\x05" * 32,
        channel_id=7,
        nonce=3,
        amount=15 * 10**16,
        price=10**16,
        count=count,
        items_root=root,
        timestamp=1_700_000_000_000,
        service=SERVICE.address,
    )
    return SIGNER.sign(SERVICE, unsigned)


# --- item salts and hashes --------------------------------------------------------------------


def test_each_item_gets_its_own_salt():
    salts = {item_salt(SALT, i) for i in range(100)}
    assert len(salts) == 100 and SALT not in salts


def test_identical_inputs_in_one_batch_have_different_hashes():
    _, items = batch_items(SALT, [INPUTS[0], INPUTS[0]], [OUTPUTS[0], OUTPUTS[0]])
    assert items[0].request_hash != items[1].request_hash


def test_item_hashes_are_commitments_under_the_item_salt():
    _, items = batch_items(SALT, INPUTS, OUTPUTS)
    salt_2 = item_salt(SALT, 2)
    assert items[2].request_hash == commit(salt_2, INPUTS[2])
    assert items[2].response_hash == commit(salt_2, OUTPUTS[2])


def test_item_salt_needs_32_bytes():
    with pytest.raises(InvalidInputError, match="salt: expected 32 bytes"):
        item_salt(b"short", 0)


def test_outputs_must_match_inputs_one_to_one():
    with pytest.raises(InvalidInputError, match=r"outputs: expected 5 .*got 4"):
        batch_items(SALT, INPUTS, OUTPUTS[:4])


# --- the items' Merkle tree -------------------------------------------------------------------


@given(st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=40))
def test_item_tree_root_is_the_rfc9162_tree_hash(entries):
    assert ItemTree(entries).root == merkle.mth(entries)


@given(st.integers(min_value=1, max_value=70))
def test_every_item_path_leads_to_the_root(size):
    entries = [i.to_bytes(4, "big") for i in range(size)]
    tree = ItemTree(entries)
    for index in range(size):
        merkle.verify_inclusion(
            index, size, merkle.hash_leaf(entries[index]), tree.path(index), tree.root
        )


@given(st.integers(min_value=1, max_value=70))
def test_all_paths_at_once_are_each_entrys_own_path(size):
    tree = ItemTree([i.to_bytes(4, "big") for i in range(size)])
    assert tree.paths() == [tree.path(index) for index in range(size)]


def test_empty_tree_is_refused():
    with pytest.raises(InvalidInputError, match="at least one item"):
        ItemTree([])


def test_batch_root_covers_request_and_response_hashes():
    root, items = batch_items(SALT, INPUTS, OUTPUTS)
    assert root == merkle.mth([item.request_hash + item.response_hash for item in items])


def test_verify_item_accepts_every_item_of_the_batch():
    root, items = batch_items(SALT, INPUTS, OUTPUTS)
    receipt = _receipt(root)
    for item in items:
        verify_item(receipt, item)


def test_verify_item_rejects_an_altered_response_hash():
    root, items = batch_items(SALT, INPUTS, OUTPUTS)
    forged = BatchItem(1, items[1].request_hash, b"\x00" * 32, items[1].path)
    with pytest.raises(IntegrityError, match="not in the batch") as raised:
        verify_item(_receipt(root), forged)
    assert raised.value.field == "item.path"


def test_verify_item_rejects_an_item_claiming_another_position():
    root, items = batch_items(SALT, INPUTS, OUTPUTS)
    moved = BatchItem(2, items[1].request_hash, items[1].response_hash, items[1].path)
    with pytest.raises(IntegrityError, match="not in the batch"):
        verify_item(_receipt(root), moved)


def test_verify_item_rejects_an_index_beyond_the_count():
    root, items = batch_items(SALT, INPUTS, OUTPUTS)
    beyond = BatchItem(5, items[4].request_hash, items[4].response_hash, items[4].path)
    with pytest.raises(IntegrityError, match="index 5 is outside the batch of 5"):
        verify_item(_receipt(root), beyond)


# --- receipts ---------------------------------------------------------------------------------


def test_batch_receipt_round_trips_through_json():
    receipt = _receipt(b"\x09" * 32)
    assert BatchReceipt.from_dict(json.loads(json.dumps(receipt.to_dict()))) == receipt


def test_batch_receipt_signature_verifies_for_the_service():
    SIGNER.verify(_receipt(b"\x09" * 32), SERVICE.address)


@pytest.mark.parametrize("field", ["count", "items_root", "amount", "price"])
def test_altered_batch_receipt_fails_verification(field):
    receipt = _receipt(b"\x09" * 32)
    data = receipt.to_dict()
    data[field] = "0x" + "08" * 32 if field == "items_root" else data[field] + 1
    with pytest.raises(IntegrityError, match="receipt: signed by"):
        SIGNER.verify(BatchReceipt.from_dict(data), SERVICE.address)


def test_batch_receipt_with_a_bad_count_is_named():
    data = _receipt(b"\x09" * 32).to_dict()
    data["count"] = -1
    with pytest.raises(InvalidInputError) as raised:
        BatchReceipt.from_dict(data)
    assert raised.value.field == "receipt.count"


# --- log records ------------------------------------------------------------------------------


def test_batch_records_are_the_canonical_encoding_of_the_whole_record():
    root, items = batch_items(SALT, INPUTS, OUTPUTS)
    receipt = _receipt(root)
    voucher = Voucher(7, 3, 15 * 10**16, os.urandom(65))
    records = batch_records(receipt, voucher, items)
    for item, record in zip(items, records, strict=True):
        assert record == canonical_json(
            {
                "item": item.to_dict(),
                "kind": BATCH_RECORD_KIND,
                "receipt": receipt.to_dict(),
                "voucher_signature": "0x" + voucher.signature.hex(),
            }
        )


def test_record_of_a_batch_of_one_has_an_empty_path_canonically():
    root, items = batch_items(SALT, INPUTS[:1], OUTPUTS[:1])
    voucher = Voucher(7, 3, 10**16, os.urandom(65))
    (record,) = batch_records(_receipt(root, 1), voucher, items)
    assert items[0].path == ()
    assert json.loads(record)["item"] == items[0].to_dict()
    assert record == canonical_json(json.loads(record))


def test_batch_item_round_trips_through_its_record():
    root, items = batch_items(SALT, INPUTS, OUTPUTS)
    (record, *_) = batch_records(_receipt(root), Voucher(7, 3, 1, b"\x01" * 65), items)
    assert BatchItem.from_dict(json.loads(record)["item"]) == items[0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(index=-1), "item.index"),
        (lambda d: d.update(path="0x00"), "item.path"),
        (lambda d: d["path"].append("0x12"), "item.path[3]"),
        (lambda d: d.update(request_hash="nope"), "item.request_hash"),
    ],
)
def test_malformed_items_are_named(change, field):
    _, items = batch_items(SALT, INPUTS, OUTPUTS)
    data = items[0].to_dict()
    change(data)
    with pytest.raises(InvalidInputError) as raised:
        BatchItem.from_dict(data)
    assert raised.value.field == field


# -- the lines body: envelope, then each input's canonical JSON on its own line ------------------

ENVELOPE = {"salt": "0x" + SALT.hex(), "voucher": {"channel_id": 7, "nonce": 3}}


def test_batch_lines_are_the_envelope_then_each_inputs_canonical_json():
    encoded = [canonical_json(x) for x in INPUTS]
    lines = encode_batch_lines(ENVELOPE, encoded).split(b"\n")
    assert json.loads(lines[0]) == ENVELOPE
    assert lines[1:] == encoded


def test_batch_lines_decode_to_the_inputs_and_their_exact_bytes():
    encoded = [canonical_json(x) for x in INPUTS]
    assert decode_batch_lines(encode_batch_lines(ENVELOPE, encoded)) == (ENVELOPE, INPUTS, encoded)


def test_batch_lines_keep_newlines_inside_strings_on_their_line():
    inputs = [{"note": "two\nlines"}, {"note": "one"}]
    encoded = [canonical_json(x) for x in inputs]
    assert decode_batch_lines(encode_batch_lines(ENVELOPE, encoded))[1] == inputs


def test_request_hashes_commit_to_the_bytes_received_not_a_re_encoding():
    received = b'{ "x": 1.0, "label": "row 0" }'
    _, (item,) = batch_items(SALT, [json.loads(received)], [OUTPUTS[0]], encoded_inputs=[received])
    assert item.request_hash == hashlib.sha256(item_salt(SALT, 0) + received).digest()
    assert item.request_hash != commit(item_salt(SALT, 0), json.loads(received))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "empty line (a final newline too)"),
        (b'{"x":1', "truncated object"),
        (b"[1,2]", "an array, not an object"),
        (b'{"x":1}{"x":2}', "two objects on one line"),
        (b'{"x":1},{"x":2}', "two items on one line"),
        (b' {"x":1}', "leading whitespace"),
        (b'{"x":1} ', "trailing whitespace"),
        (b'{"x":"\xff"}', "not UTF-8"),
    ],
)
def test_batch_line_that_is_not_exactly_one_object_is_named(line, reason):
    body = encode_batch_lines(ENVELOPE, [canonical_json(INPUTS[0]), line])
    with pytest.raises(InvalidInputError, match=r"inputs\[1\]: expected one JSON object") as raised:
        decode_batch_lines(body)
    assert raised.value.field == "inputs[1]", reason


@pytest.mark.parametrize("body", [b"", b"[]", b"not json\n{}"])
def test_batch_lines_without_an_envelope_object_are_refused(body):
    with pytest.raises(InvalidInputError, match="request: expected one JSON object") as raised:
        decode_batch_lines(body)
    assert raised.value.field == "request"


def test_batch_lines_above_the_maximum_are_refused_before_parsing():
    body = encode_batch_lines(ENVELOPE, [b"not even json"] * 3)
    with pytest.raises(
        InvalidInputError, match="batch of 3 inputs is above this host's maximum of 2"
    ):
        decode_batch_lines(body, max_inputs=2)
