"""Vouchers and receipts: EIP-712 exactly as the contracts and core identity define it."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from eth_account import Account

from ailedger.contracts.typed_data import VOUCHER_TYPES, payment_channels_domain
from ailedger.core.identity import hash_typed, sign_typed
from ailedger.errors import IntegrityError, InvalidInputError
from ailedger.services import CallReceipt, ReceiptSigner, Voucher, VoucherSigner, commit
from ailedger.services.receipts import RECEIPT_TYPES, receipt_domain

CHANNELS = "0x" + "11" * 20
REGISTRY = "0x" + "22" * 20
consumer = Account.from_key(b"\x05" * 32)
service = Account.from_key(b"\x06" * 32)
mallory = Account.from_key(b"\x07" * 32)


def _receipt(**changes) -> CallReceipt:
    fields = dict(
        model_id=b"\x01" * 32,
        model_hash=b"\x02" * 32,
        log_id=b"\x05" * 32,
        channel_id=4,
        nonce=9,
        amount=90,
        price=10,
        request_hash=b"\x03" * 32,
        response_hash=b"\x04" * 32,
        timestamp=1_700_000_000_000,
        service=service.address,
    )
    fields.update(changes)
    return CallReceipt(**fields)


def test_voucher_digest_is_the_eip712_hash_of_core_identity():
    signer = VoucherSigner(31337, CHANNELS)
    voucher = signer.sign(consumer, 3, 7, 12345)
    domain = payment_channels_domain(31337, CHANNELS)
    message = {"channelId": 3, "nonce": 7, "amount": 12345}
    assert signer.digest(voucher) == hash_typed(domain, "Voucher", VOUCHER_TYPES, message)


def test_voucher_signature_equals_the_core_identity_signature():
    signer = VoucherSigner(31337, CHANNELS)
    domain = payment_channels_domain(31337, CHANNELS)
    message = {"channelId": 3, "nonce": 7, "amount": 12345}
    expected = sign_typed(consumer, domain, "Voucher", VOUCHER_TYPES, message)
    assert signer.sign(consumer, 3, 7, 12345).signature == expected


def test_voucher_recovers_its_signer():
    signer = VoucherSigner(31337, CHANNELS)
    assert signer.signer_of(signer.sign(consumer, 0, 1, 10)) == consumer.address


def test_voucher_with_altered_amount_recovers_someone_else():
    signer = VoucherSigner(31337, CHANNELS)
    voucher = replace(signer.sign(consumer, 0, 1, 10), amount=11)
    assert signer.signer_of(voucher) != consumer.address


def test_voucher_of_another_channels_contract_recovers_someone_else():
    voucher = VoucherSigner(31337, CHANNELS).sign(consumer, 0, 1, 10)
    assert VoucherSigner(31337, REGISTRY).signer_of(voucher) != consumer.address


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (b"\x01" * 64, "expected 65 bytes, got 64 bytes"),
        (b"\x01" * 64 + b"\x05", "expected v of 27 or 28, got 5"),
        (b"\x01" * 32 + b"\xff" * 32 + b"\x1b", "upper half of the curve order"),
    ],
)
def test_malformed_voucher_signatures_are_rejected(signature, message):
    signer = VoucherSigner(31337, CHANNELS)
    with pytest.raises(InvalidInputError, match=message):
        signer.signer_of(Voucher(0, 1, 10, signature))


def test_voucher_round_trips_through_json():
    voucher = VoucherSigner(31337, CHANNELS).sign(consumer, 2, 3, 4)
    assert Voucher.from_dict(voucher.to_dict()) == voucher


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"nonce": 1, "amount": 1, "signature": "0x00"}, "voucher.channel_id"),
        ({"channel_id": 1, "nonce": -1, "amount": 1, "signature": "0x00"}, "voucher.nonce"),
        ({"channel_id": 1, "nonce": 1, "amount": "10", "signature": "0x00"}, "voucher.amount"),
        ({"channel_id": 1, "nonce": 1, "amount": 1, "signature": "zz"}, "voucher.signature"),
        ([1, 2, 3], "voucher"),
    ],
)
def test_malformed_voucher_json_names_the_field(data, field):
    with pytest.raises(InvalidInputError) as raised:
        Voucher.from_dict(data)
    assert raised.value.field == field


def test_receipt_digest_is_the_eip712_hash_of_core_identity():
    signer = ReceiptSigner(31337, REGISTRY)
    receipt = signer.sign(service, _receipt())
    expected = sign_typed(
        service, receipt_domain(31337, REGISTRY), "CallReceipt", RECEIPT_TYPES, receipt.message()
    )
    assert receipt.signature == expected


def test_signed_receipt_verifies_for_its_service():
    signer = ReceiptSigner(31337, REGISTRY)
    signer.verify(signer.sign(service, _receipt()), service.address)


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 91},
        {"price": 1},
        {"response_hash": b"\x09" * 32},
        {"nonce": 10},
        {"model_hash": b"\x08" * 32},
    ],
)
def test_tampered_receipt_is_detected(change):
    signer = ReceiptSigner(31337, REGISTRY)
    tampered = replace(signer.sign(service, _receipt()), **change)
    with pytest.raises(IntegrityError, match="altered or is not from this service"):
        signer.verify(tampered, service.address)


def test_receipt_signed_by_another_key_is_rejected():
    signer = ReceiptSigner(31337, REGISTRY)
    forged = replace(signer.sign(mallory, _receipt()), service=service.address)
    with pytest.raises(IntegrityError, match=f"signed by {mallory.address}"):
        signer.verify(forged, service.address)


def test_receipt_round_trips_through_json():
    receipt = ReceiptSigner(31337, REGISTRY).sign(service, _receipt())
    assert CallReceipt.from_dict(receipt.to_dict()) == receipt


def test_commitment_hides_the_value_behind_the_salt():
    value = {"age": 42}
    first, second = commit(os.urandom(32), value), commit(os.urandom(32), value)
    assert first != second
    salt = os.urandom(32)
    assert commit(salt, value) == commit(salt, {"age": 42})
    assert commit(salt, value) != commit(salt, {"age": 43})


def test_commitment_needs_a_32_byte_salt():
    with pytest.raises(InvalidInputError, match="salt"):
        commit(b"short", {})
