"""Encrypted, content-addressed blob storage and key wrapping for a recipient.

Public API: :class:`BlobStore` (``put``/``get``), :class:`BlobRef`,
:func:`wrap_key`/:func:`unwrap_key` (ECIES over secp256k1) and
:func:`open_blob_store` for the data directory's default store.
"""

from __future__ import annotations

from ailedger.config import Settings
from ailedger.core.storage.blobs import BlobRef, BlobStore, new_key
from ailedger.core.storage.keywrap import public_key_of, unwrap_key, wrap_key


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store in ``settings.blobs_dir``."""
    return BlobStore(settings.blobs_dir)


__all__ = [
    "BlobRef",
    "BlobStore",
    "new_key",
    "open_blob_store",
    "public_key_of",
    "unwrap_key",
    "wrap_key",
]
