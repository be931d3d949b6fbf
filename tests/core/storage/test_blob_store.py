"""The encrypted, content-addressed blob store."""

from __future__ import annotations

import hashlib

import pytest

from ailedger.core.storage import BlobStore, new_key, open_blob_store
from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError


@pytest.fixture
def store(settings) -> BlobStore:
    return open_blob_store(settings)


def _stored_files(store: BlobStore) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in store.root.rglob("*") if p.is_file()}


def test_put_then_get_returns_the_plaintext(store):
    ref = store.put(b"applicant 17: income 4200")
    assert store.get(ref.address, ref.key) == b"applicant 17: income 4200"


def test_address_is_sha256_of_the_stored_ciphertext(store):
    ref = store.put(b"data")
    (stored,) = _stored_files(store).values()
    assert ref.address == hashlib.sha256(stored).hexdigest()


def test_blob_on_disk_does_not_contain_the_plaintext(store):
    store.put(b"very personal income figure 123456")
    (stored,) = _stored_files(store).values()
    assert b"123456" not in stored


def test_each_put_gets_a_fresh_key(store):
    assert store.put(b"x").key != store.put(b"x").key


def test_put_with_caller_key_uses_that_key(store):
    key = new_key()
    ref = store.put(b"x", key=key)
    assert ref.key == key
    assert store.get(ref.address, key) == b"x"


def test_blob_ref_repr_hides_the_key(store):
    ref = store.put(b"x")
    assert ref.key.hex() not in repr(ref)


def test_get_with_wrong_key_raises_integrity_error_naming_the_address(store):
    ref = store.put(b"secret")
    with pytest.raises(IntegrityError, match=ref.address):
        store.get(ref.address, new_key())


def test_get_of_tampered_blob_raises_integrity_error_naming_the_address(store):
    ref = store.put(b"secret")
    path = store.root / ref.address[:2] / ref.address
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=ref.address):
        store.get(ref.address, ref.key)


def test_get_of_unknown_address_raises_not_found(store):
    with pytest.raises(NotFoundError, match="no blob"):
        store.get("ab" * 32, new_key())


def test_get_rejects_malformed_address(store):
    with pytest.raises(InvalidInputError, match="64 lowercase hex") as info:
        store.get("../etc/passwd", new_key())
    assert info.value.field == "address"


def test_put_rejects_short_key_and_stores_nothing(store):
    with pytest.raises(InvalidInputError, match="32 bytes, got 16"):
        store.put(b"x", key=b"k" * 16)
    assert _stored_files(store) == {}


def test_put_rejects_non_bytes_plaintext(store):
    with pytest.raises(InvalidInputError, match="plaintext must be bytes, got str"):
        store.put("text")  # type: ignore[arg-type]


def test_put_of_existing_address_does_not_rewrite_it(store, monkeypatch):
    # Force the same nonce twice so both puts produce the same ciphertext and address.
    monkeypatch.setattr("ailedger.core.storage.blobs.secrets.token_bytes", lambda n: b"\x07" * n)
    key = new_key()
    first = store.put(b"same", key=key)
    path = store.root / first.address[:2] / first.address
    inode = path.stat().st_ino
    second = store.put(b"same", key=key)
    assert second.address == first.address
    assert path.stat().st_ino == inode


def test_put_leaves_no_temporary_files(store):
    for i in range(3):
        store.put(bytes([i]))
    assert not [name for name in _stored_files(store) if name.startswith(".tmp")]


def test_contains_reports_stored_addresses_only(store):
    ref = store.put(b"x")
    assert ref.address in store
    assert "cd" * 32 not in store
    assert "not-an-address" not in store
