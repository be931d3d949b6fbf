"""ECIES key wrapping over secp256k1: a blob key readable only with the recipient's key."""

from __future__ import annotations

import pytest
from eth_account import Account

from ailedger.core.storage import new_key, public_key_of, unwrap_key, wrap_key
from ailedger.core.storage.keywrap import WRAPPED_SIZE
from ailedger.errors import IntegrityError, InvalidInputError

AUDITOR_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
OTHER_KEY = bytes.fromhex("0f" * 32)


def test_unwrap_with_recipient_key_recovers_the_key():
    key = new_key()
    assert unwrap_key(wrap_key(key, public_key_of(AUDITOR_KEY)), AUDITOR_KEY) == key


def test_wrapping_has_fixed_size_and_does_not_contain_the_key():
    key = new_key()
    wrapped = wrap_key(key, public_key_of(AUDITOR_KEY))
    assert len(wrapped) == WRAPPED_SIZE
    assert key not in wrapped


def test_wrapping_twice_gives_different_bytes():
    key = new_key()
    public = public_key_of(AUDITOR_KEY)
    assert wrap_key(key, public) != wrap_key(key, public)


@pytest.mark.parametrize("form", ["compressed", "uncompressed", "raw64"])
def test_wrap_accepts_public_key_encodings(form):
    account = Account.from_key(AUDITOR_KEY)
    raw64 = account._key_obj.public_key.to_bytes()  # eth-keys: x || y
    public = {
        "compressed": public_key_of(AUDITOR_KEY),
        "uncompressed": b"\x04" + raw64,
        "raw64": raw64,
    }[form]
    key = new_key()
    assert unwrap_key(wrap_key(key, public), AUDITOR_KEY) == key


def test_unwrap_with_another_private_key_raises_integrity_error():
    wrapped = wrap_key(new_key(), public_key_of(AUDITOR_KEY))
    with pytest.raises(IntegrityError, match="wrong recipient or tampered"):
        unwrap_key(wrapped, OTHER_KEY)


def test_unwrap_of_tampered_wrapping_raises_integrity_error():
    wrapped = bytearray(wrap_key(new_key(), public_key_of(AUDITOR_KEY)))
    wrapped[-5] ^= 0x01
    with pytest.raises(IntegrityError):
        unwrap_key(bytes(wrapped), AUDITOR_KEY)


def test_unwrap_rejects_wrong_length():
    with pytest.raises(InvalidInputError, match=f"{WRAPPED_SIZE} bytes, got 10"):
        unwrap_key(b"\x01" * 10, AUDITOR_KEY)


def test_unwrap_rejects_unknown_version():
    wrapped = b"\x02" + wrap_key(new_key(), public_key_of(AUDITOR_KEY))[1:]
    with pytest.raises(InvalidInputError, match="version must be 1, got 2"):
        unwrap_key(wrapped, AUDITOR_KEY)


def test_wrap_rejects_point_not_on_curve():
    with pytest.raises(InvalidInputError, match="not a point on secp256k1"):
        wrap_key(new_key(), b"\x02" + b"\xff" * 32)


def test_wrap_rejects_public_key_of_wrong_length():
    with pytest.raises(InvalidInputError, match="33, 64 or 65 bytes, got 20"):
        wrap_key(new_key(), b"\x02" * 20)


def test_wrap_rejects_key_of_wrong_length():
    with pytest.raises(InvalidInputError, match="32 bytes, got 5"):
        wrap_key(b"short", public_key_of(AUDITOR_KEY))


def test_unwrap_rejects_zero_private_key():
    wrapped = wrap_key(new_key(), public_key_of(AUDITOR_KEY))
    with pytest.raises(InvalidInputError, match="out of range"):
        unwrap_key(wrapped, b"\x00" * 32)
