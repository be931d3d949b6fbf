"""Sealed datasets and keys wrapped to one buyer."""

from __future__ import annotations

import pandas as pd
import pytest
from eth_account import Account

from ailedger.core.storage import BlobStore
from ailedger.errors import IntegrityError, InvalidInputError, UnauthorizedError
from ailedger.market.delivery import (
    address_of_public_key,
    check_buyer_key,
    open_dataset,
    public_key_of_account,
    seal_dataset,
    seal_key_for,
    unseal_key,
)


@pytest.fixture
def store(tmp_path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"age": ["40-59", "60+"], "radius": [12.5, 17.25], "diagnosis": ["a", "b"]})


def test_a_sealed_dataset_opens_to_the_same_rows(store, frame):
    sealed = seal_dataset(store, frame)
    pd.testing.assert_frame_equal(open_dataset(store, sealed.address, sealed.key), frame)
    assert sealed.commitment == bytes.fromhex(sealed.address)
    assert (sealed.rows, sealed.columns) == (2, ("age", "radius", "diagnosis"))


def test_the_blob_on_disk_holds_no_plaintext(store, frame):
    sealed = seal_dataset(store, frame)
    raw = next(p for p in store.root.rglob(sealed.address)).read_bytes()
    assert b"radius" not in raw and b"40-59" not in raw


def test_a_wrong_key_does_not_open_the_dataset(store, frame):
    sealed = seal_dataset(store, frame)
    with pytest.raises(IntegrityError):
        open_dataset(store, sealed.address, b"\0" * 32)


def test_an_empty_dataset_is_not_sealed(store):
    with pytest.raises(InvalidInputError):
        seal_dataset(store, pd.DataFrame())


def test_a_key_sealed_for_the_buyer_opens_only_with_the_buyers_key():
    buyer, other = Account.create(), Account.create()
    sealed = seal_key_for(b"\7" * 32, "ab" * 32, public_key_of_account(buyer))
    assert unseal_key(sealed, buyer) == b"\7" * 32
    with pytest.raises(UnauthorizedError):
        unseal_key(sealed, other)


def test_the_delivery_hash_commits_to_the_wrapping():
    buyer = Account.create()
    first = seal_key_for(b"\7" * 32, "ab" * 32, public_key_of_account(buyer))
    second = seal_key_for(b"\7" * 32, "ab" * 32, public_key_of_account(buyer))
    assert first.delivery_hash != second.delivery_hash  # fresh ephemeral key per wrapping
    assert len(first.delivery_hash) == 32


def test_a_public_key_maps_to_its_account_address():
    account = Account.create()
    assert address_of_public_key(public_key_of_account(account)) == account.address


def test_a_key_of_someone_else_is_refused_for_the_buyer():
    buyer, other = Account.create(), Account.create()
    check_buyer_key(public_key_of_account(buyer), buyer.address)
    with pytest.raises(UnauthorizedError, match="expected the buyer"):
        check_buyer_key(public_key_of_account(other), buyer.address)


@pytest.mark.parametrize("key", [b"\2" * 10, b"\2" + b"\0" * 32, "02" * 33])
def test_a_malformed_public_key_is_refused(key):
    with pytest.raises(InvalidInputError):
        address_of_public_key(key)
