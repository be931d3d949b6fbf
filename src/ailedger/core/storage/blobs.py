"""Content-addressed, encrypted blob store in a local directory.

Every blob is encrypted with AES-256-GCM under its own key (a fresh random one
unless the caller brings one) and stored under the SHA-256 of its ciphertext, so
the address both names the blob and proves its integrity. The store never sees a
key after ``put`` returns it: whoever keeps the :class:`BlobRef` can read the
blob, and forgetting the key makes the blob unreadable ("crypto-shredding").

On disk a blob is ``nonce (12 bytes) || ciphertext || tag (16 bytes)`` at
``<root>/<address[:2]>/<address>``. Writes go to a temporary file that is
fsynced and then hard-linked into place, so a crash never leaves a partial blob
under a real address, and an existing address is never overwritten.

Example::

    >>> store = BlobStore(Path("/tmp/ailedger-blobs"))  # doctest: +SKIP
    >>> ref = store.put(b"applicant #17")  # doctest: +SKIP
    >>> store.get(ref.address, ref.key)  # doctest: +SKIP
    b'applicant #17'
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
# Bound into every ciphertext as associated data, so a blob of some future format
# cannot be mistaken for this one.
_AAD = b"ailedger-blob-v1"
_ADDRESS = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class BlobRef:
    """Where a blob is (``address``: 64 lowercase hex digits) and the key that opens it."""

    address: str
    key: bytes = field(repr=False)


def new_key() -> bytes:
    """A fresh random AES-256 key."""
    return secrets.token_bytes(KEY_SIZE)


def check_key(key: object, name: str = "key") -> bytes:
    """Return ``key`` if it is a 32-byte AES-256 key, else raise ``InvalidInputError``."""
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
        got = f"{len(key)} bytes" if isinstance(key, bytes | bytearray) else type(key).__name__
        raise InvalidInputError(f"{name} must be {KEY_SIZE} bytes, got {got}", field=name)
    return bytes(key)


def check_address(address: object) -> str:
    """Return ``address`` if it is 64 lowercase hex digits, else raise ``InvalidInputError``."""
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise InvalidInputError(
            f"blob address must be 64 lowercase hex digits, got {address!r}", field="address"
        )
    return address


class BlobStore:
    """An encrypted, content-addressed blob store rooted at one directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, plaintext: bytes, key: bytes | None = None) -> BlobRef:
        """Encrypt ``plaintext`` and store it; return its address and key.

        ``key`` defaults to a fresh random key. Storing the same ciphertext twice
        is a no-op (same address); nothing already stored is ever replaced.
        """
        if not isinstance(plaintext, bytes | bytearray):
            raise InvalidInputError(
                f"plaintext must be bytes, got {type(plaintext).__name__}", field="plaintext"
            )
        key = new_key() if key is None else check_key(key)
        nonce = secrets.token_bytes(NONCE_SIZE)
        blob = nonce + AESGCM(key).encrypt(nonce, bytes(plaintext), _AAD)
        address = hashlib.sha256(blob).hexdigest()
        self._write_new(self._path(address), blob)
        return BlobRef(address, key)

    def get(self, address: str, key: bytes) -> bytes:
        """Decrypt and return the blob at ``address``.

        Raises ``NotFoundError`` if there is none, and ``IntegrityError`` naming the
        address if its content no longer hashes to it or ``key`` does not open it.
        """
        path = self._path(check_address(address))
        key = check_key(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no blob with address {address}", field="address") from None
        actual = hashlib.sha256(blob).hexdigest()
        if actual != address:
            raise IntegrityError(
                f"blob {address} is corrupted: its content hashes to {actual}", field="address"
            )
        if len(blob) < NONCE_SIZE + TAG_SIZE:
            raise IntegrityError(f"blob {address} is truncated", field="address")
        try:
            return AESGCM(key).decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], _AAD)
        except InvalidTag:
            raise IntegrityError(
                f"blob {address} does not decrypt with the given key (wrong key or tampered)",
                field="key",
            ) from None

    def __contains__(self, address: object) -> bool:
        return (
            isinstance(address, str)
            and _ADDRESS.fullmatch(address) is not None
            and self._path(address).is_file()
        )

    def _path(self, address: str) -> Path:
        # Two-level fan-out keeps directories small at millions of blobs.
        return self.root / address[:2] / address

    @staticmethod
    def _write_new(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            try:
                # link() fails instead of replacing, unlike rename(): an existing
                # address already holds these exact bytes (its name is their hash).
                os.link(tmp_name, path)
            except FileExistsError:
                return
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        finally:
            os.unlink(tmp_name)
