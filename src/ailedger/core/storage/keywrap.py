"""Key wrapping for one recipient: ECIES over secp256k1.

A blob key is "wrapped" so that only the holder of a secp256k1 private key (an
auditor's Ethereum account key) can recover it:

1. make an ephemeral key pair and compute ECDH with the recipient's public key;
2. derive a 32-byte key-encryption key with HKDF-SHA256 from the shared
   x-coordinate, bound to both public keys;
3. encrypt the blob key with AES-256-GCM under it.

Wire format (94 bytes): ``version (1) || ephemeral public key, compressed (33)
|| nonce (12) || encrypted key (32) || tag (16)``.

Public keys may be given compressed (33 bytes), uncompressed (65 bytes) or as
the raw 64-byte ``x || y`` that eth-keys uses; private keys as 32 bytes.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ailedger.core.storage.blobs import KEY_SIZE, NONCE_SIZE, TAG_SIZE, check_key
from ailedger.errors import IntegrityError, InvalidInputError

VERSION = 1
_POINT_SIZE = 33
WRAPPED_SIZE = 1 + _POINT_SIZE + NONCE_SIZE + KEY_SIZE + TAG_SIZE
_INFO = b"ailedger-keywrap-v1"


def load_public_key(public_key: bytes) -> ec.EllipticCurvePublicKey:
    """Parse a secp256k1 public key (33, 64 or 65 bytes); ``InvalidInputError`` if it is not one."""
    if not isinstance(public_key, bytes | bytearray):
        raise InvalidInputError(
            f"public key must be bytes, got {type(public_key).__name__}", field="public_key"
        )
    encoded = bytes(public_key)
    if len(encoded) == 64:
        encoded = b"\x04" + encoded
    if len(encoded) not in (33, 65):
        raise InvalidInputError(
            f"public key must be 33, 64 or 65 bytes, got {len(public_key)}", field="public_key"
        )
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), encoded)
    except ValueError:
        raise InvalidInputError(
            "public key is not a point on secp256k1", field="public_key"
        ) from None


def load_private_key(private_key: bytes) -> ec.EllipticCurvePrivateKey:
    """Parse a 32-byte secp256k1 private key; ``InvalidInputError`` if it is not one."""
    if not isinstance(private_key, bytes | bytearray) or len(private_key) != 32:
        raise InvalidInputError("private key must be 32 bytes", field="private_key")
    scalar = int.from_bytes(private_key, "big")
    try:
        return ec.derive_private_key(scalar, ec.SECP256K1())
    except ValueError:
        raise InvalidInputError(
            "private key is out of range for secp256k1", field="private_key"
        ) from None


def public_key_of(private_key: bytes) -> bytes:
    """The compressed (33-byte) public key of a 32-byte secp256k1 private key."""
    return _compressed(load_private_key(private_key).public_key())


def wrap_key(key: bytes, recipient_public_key: bytes) -> bytes:
    """Encrypt the 32-byte ``key`` so that only the recipient's private key recovers it."""
    key = check_key(key)
    recipient = load_public_key(recipient_public_key)
    ephemeral = ec.generate_private_key(ec.SECP256K1())
    ephemeral_point = _compressed(ephemeral.public_key())
    kek = _derive(ephemeral.exchange(ec.ECDH(), recipient), ephemeral_point, recipient)
    nonce = secrets.token_bytes(NONCE_SIZE)
    header = bytes([VERSION]) + ephemeral_point
    return header + nonce + AESGCM(kek).encrypt(nonce, key, header)


def unwrap_key(wrapped: bytes, private_key: bytes) -> bytes:
    """Recover a key wrapped by :func:`wrap_key`.

    Raises ``InvalidInputError`` for a malformed wrapping and ``IntegrityError`` if
    this private key is not the recipient's or the wrapping was altered.
    """
    if not isinstance(wrapped, bytes | bytearray) or len(wrapped) != WRAPPED_SIZE:
        got = len(wrapped) if isinstance(wrapped, bytes | bytearray) else type(wrapped).__name__
        raise InvalidInputError(
            f"wrapped key must be {WRAPPED_SIZE} bytes, got {got}", field="wrapped"
        )
    if wrapped[0] != VERSION:
        raise InvalidInputError(
            f"wrapped key version must be {VERSION}, got {wrapped[0]}", field="wrapped"
        )
    owner = load_private_key(private_key)
    header = bytes(wrapped[: 1 + _POINT_SIZE])
    ephemeral_point = header[1:]
    nonce = bytes(wrapped[len(header) : len(header) + NONCE_SIZE])
    ciphertext = bytes(wrapped[len(header) + NONCE_SIZE :])
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), ephemeral_point)
    except ValueError:
        raise IntegrityError(
            "wrapped key is corrupted: bad ephemeral public key", field="wrapped"
        ) from None
    kek = _derive(owner.exchange(ec.ECDH(), ephemeral), ephemeral_point, owner.public_key())
    try:
        return AESGCM(kek).decrypt(nonce, ciphertext, header)
    except InvalidTag:
        raise IntegrityError(
            "wrapped key does not open with this private key (wrong recipient or tampered)",
            field="private_key",
        ) from None


def _compressed(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)


def _derive(shared_x: bytes, ephemeral_point: bytes, recipient: ec.EllipticCurvePublicKey) -> bytes:
    # Binding both public keys into the KDF stops a wrapping from being replayed
    # to another recipient or with a substituted ephemeral key.
    info = _INFO + ephemeral_point + _compressed(recipient)
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=info).derive(shared_x)
