"""Encrypted delivery: datasets and models as sealed blobs, keys wrapped to one buyer.

A dataset is serialized to CSV and sealed in the blob store (AES-256-GCM under a
fresh key); the blob's address, the SHA-256 of its ciphertext, is the listing's
content commitment. On a sale the key is wrapped (ECIES) to the buyer's public
key, which must belong to the buyer's address on the purchase; the SHA-256 of
that wrapping is the delivery hash the buyer signs once it opened the blob. The
plaintext never leaves the seller's process except inside the sealed blob.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import pandas as pd
from eth_account.signers.local import LocalAccount
from eth_keys import keys
from eth_keys.exceptions import ValidationError as KeyValidationError

from ailedger.core.storage import BlobStore, public_key_of, unwrap_key, wrap_key
from ailedger.errors import IntegrityError, InvalidInputError, UnauthorizedError

__all__ = [
    "SealedDataset",
    "SealedKey",
    "address_of_public_key",
    "check_buyer_key",
    "open_dataset",
    "public_key_of_account",
    "seal_dataset",
    "seal_key_for",
    "unseal_key",
]


@dataclass(frozen=True)
class SealedDataset:
    """A dataset in the blob store: its address (= commitment) and the key that opens it."""

    address: str
    key: bytes = field(repr=False)
    rows: int
    columns: tuple[str, ...]

    @property
    def commitment(self) -> bytes:
        """The 32-byte commitment a listing publishes: the blob's SHA-256 address."""
        return bytes.fromhex(self.address)


@dataclass(frozen=True)
class SealedKey:
    """A blob key wrapped to one recipient, and the hash its recipient acknowledges."""

    blob_address: str
    wrapped_key: bytes

    @property
    def delivery_hash(self) -> bytes:
        return hashlib.sha256(self.wrapped_key).digest()


def seal_dataset(store: BlobStore, frame: pd.DataFrame) -> SealedDataset:
    """Serialize ``frame`` to CSV and store it encrypted under a fresh key."""
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise InvalidInputError("dataset: expected a non-empty DataFrame", field="dataset")
    ref = store.put(frame.to_csv(index=False).encode())
    return SealedDataset(ref.address, ref.key, len(frame), tuple(str(c) for c in frame.columns))


def open_dataset(store: BlobStore, address: str, key: bytes) -> pd.DataFrame:
    """Decrypt and parse a sealed dataset (the store checks the address hash and the tag)."""
    return pd.read_csv(io.BytesIO(store.get(address, key)))


def public_key_of_account(account: LocalAccount) -> bytes:
    """The compressed secp256k1 public key of a local account."""
    return public_key_of(bytes(account.key))


def address_of_public_key(public_key: bytes) -> str:
    """The Ethereum address of a secp256k1 public key (33, 64 or 65 bytes)."""
    if not isinstance(public_key, bytes):
        raise InvalidInputError("public_key: expected bytes", field="public_key")
    if len(public_key) not in (33, 64, 65):
        raise InvalidInputError(
            f"public_key: expected 33, 64 or 65 bytes, got {len(public_key)}", field="public_key"
        )
    try:
        if len(public_key) == 33:
            key = keys.PublicKey.from_compressed_bytes(public_key)
        else:
            key = keys.PublicKey(public_key[-64:])  # 65 bytes: drop the 0x04 prefix
    except (KeyValidationError, ValueError):  # eth_keys or its coincurve backend
        raise InvalidInputError(
            "public_key: not a point on secp256k1", field="public_key"
        ) from None
    return key.to_checksum_address()


def check_buyer_key(public_key: bytes, buyer: str) -> None:
    """Refuse to wrap a key for a public key that is not the buyer's."""
    owner = address_of_public_key(public_key)
    if owner != buyer:
        raise UnauthorizedError(
            f"public_key: belongs to {owner}, expected the buyer {buyer}", field="public_key"
        )


def seal_key_for(key: bytes, blob_address: str, recipient_public_key: bytes) -> SealedKey:
    """Wrap ``key`` so only the holder of the recipient's private key recovers it."""
    return SealedKey(blob_address, wrap_key(key, recipient_public_key))


def unseal_key(sealed: SealedKey, account: LocalAccount) -> bytes:
    """The recipient's side of :func:`seal_key_for`."""
    try:
        return unwrap_key(sealed.wrapped_key, bytes(account.key))
    except IntegrityError:
        raise UnauthorizedError(
            "wrapped key: not addressed to this account (or tampered)", field="wrapped_key"
        ) from None
