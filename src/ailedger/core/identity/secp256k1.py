"""Fast secp256k1 signatures over 32-byte digests, checked exactly as the contracts check them.

For records signed or verified many times a second (vouchers, receipts, device
readings): libsecp256k1 through coincurve, a C Keccak-256, and the same rules as
snekmate's ``ecdsa``: 65-byte r || s || v with v = 27 or 28 and s in the lower
half of the curve order (the high-s twin of a signature is refused).
"""

from __future__ import annotations

from functools import lru_cache

import coincurve
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from sha3 import keccak_256

from ailedger.errors import InvalidInputError

__all__ = [
    "SIGNATURE_LENGTH",
    "keccak256",
    "recover_digest",
    "require_signature_bytes",
    "sign_digest",
]

SIGNATURE_LENGTH = 65
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = _SECP256K1_N // 2


def keccak256(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's hash) of ``data``."""
    return keccak_256(data).digest()


def sign_digest(account: LocalAccount, digest: bytes) -> bytes:
    """Sign a 32-byte digest the way ``ecrecover`` and snekmate's ``ecdsa`` expect."""
    raw = _private_key(bytes(account.key)).sign_recoverable(digest, hasher=None)
    return raw[:64] + bytes([raw[64] + 27])


def require_signature_bytes(signature: object) -> None:
    """Raise :class:`InvalidInputError` unless ``signature`` is 65 bytes (r, s, v)."""
    if not isinstance(signature, bytes | bytearray) or len(signature) != SIGNATURE_LENGTH:
        got = (
            f"{len(signature)} bytes"
            if isinstance(signature, bytes | bytearray)
            else type(signature).__name__
        )
        raise InvalidInputError(
            f"signature: expected {SIGNATURE_LENGTH} bytes, got {got}", field="signature"
        )


def recover_digest(digest: bytes, signature: bytes) -> str:
    """The address behind ``signature`` over ``digest``, checked as the contracts check it."""
    require_signature_bytes(signature)
    v = signature[64]
    if v not in (27, 28):
        raise InvalidInputError(f"signature: expected v of 27 or 28, got {v}", field="signature")
    # The contracts reject the high-s twin of a signature (malleability); so must we.
    if int.from_bytes(signature[32:64], "big") > _HALF_N:
        raise InvalidInputError(
            "signature: s is in the upper half of the curve order", field="signature"
        )
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            bytes(signature[:64]) + bytes([v - 27]), digest, hasher=None
        )
    except (ValueError, TypeError) as error:
        raise InvalidInputError(
            f"signature: not a valid secp256k1 signature ({error})", field="signature"
        ) from None
    return _address(public.format(compressed=False))


@lru_cache(maxsize=1024)
def _address(public_key: bytes) -> str:
    return to_checksum_address(keccak256(public_key[1:])[-20:])


@lru_cache(maxsize=64)
def _private_key(secret: bytes) -> coincurve.PrivateKey:
    return coincurve.PrivateKey(secret)
