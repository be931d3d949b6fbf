"""The off-chain half of the DataMarket's optimistic fair exchange.

A buyer names a fresh *delivery key* D = d*G for each purchase (its address goes on
chain with the payment). To deliver, the seller picks an ephemeral key e, posts
E = e*G and ``wrapped = key XOR pad`` where ``pad = keccak256(abi_encode(address(e*D),
chainid, market, purchase_id))``: only e and d give the shared point e*D = d*E, so only
the buyer reads the key. If the key does not match its on-chain commitment
(``keccak256(key)``), the buyer reveals d in ``dispute``; the contract recomputes
``address(d*E)`` with ``ecrecover`` (see ``DataMarket.vy``), decrypts, and refunds only
if the key is wrong. d is used for no other purchase, so revealing it gives away
nothing else.

d is derived, never stored: ``HMAC-SHA256(account key, chain id, market, index)``, with
``index`` counting the buyer's delivery keys, so the buyer finds it again from the
chain and its own key alone (:func:`find_delivery_secret`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from ailedger.errors import InvalidInputError, NotFoundError

__all__ = [
    "SECP256K1_N",
    "WrappedKey",
    "delivery_hash",
    "delivery_secret",
    "find_delivery_secret",
    "key_address",
    "key_hash",
    "next_delivery_index",
    "public_key_of_secret",
    "unwrap_key",
    "wrap_key_for",
]

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_TAG = b"ailedger/market/delivery-key/v1"


@dataclass(frozen=True)
class WrappedKey:
    """What ``deliver`` posts about the key: the ephemeral point and the encrypted key."""

    ephemeral_x: int
    ephemeral_odd: bool
    wrapped: bytes  # 32 bytes


def key_hash(key: bytes) -> bytes:
    """The on-chain commitment to a content key: keccak256 of its 32 bytes."""
    return keccak(key)


def delivery_secret(account: LocalAccount, chain_id: int, market: str, index: int) -> int:
    """The buyer's ``index``-th delivery secret in this market, in [1, N-1]."""
    message = _TAG + encode(["uint256", "address", "uint256"], [chain_id, market, index])
    digest = hmac.new(bytes(account.key), message, hashlib.sha256).digest()
    return int.from_bytes(digest, "big") % (SECP256K1_N - 1) + 1


def public_key_of_secret(secret: int) -> bytes:
    """The 64-byte uncompressed public key (no prefix) of a delivery secret."""
    return PrivateKey(secret.to_bytes(32, "big")).public_key.format(compressed=False)[1:]


def key_address(public_key: bytes) -> str:
    """The address of a secp256k1 public key (33 compressed or 64/65 uncompressed bytes)."""
    point = _point(public_key, "public_key")
    return to_checksum_address(keccak(point.format(compressed=False)[1:])[12:])


def find_delivery_secret(
    account: LocalAccount, chain_id: int, market: str, delivery_key: str, tries: int
) -> int:
    """The secret among the buyer's first ``tries`` whose key is ``delivery_key``."""
    for index in range(tries):
        secret = delivery_secret(account, chain_id, market, index)
        if _address_of(secret) == delivery_key:
            return secret
    raise NotFoundError(
        f"delivery key {delivery_key} is not one of {account.address}'s first {tries}",
        field="delivery_key",
    )


def next_delivery_index(
    used_keys: Iterable[str], account: LocalAccount, chain_id: int, market: str
) -> int:
    """The first index whose delivery key the buyer has not used on chain yet."""
    used = set(used_keys)
    index = 0
    while _address_of(delivery_secret(account, chain_id, market, index)) in used:
        index += 1
    return index


def _address_of(secret: int) -> str:
    return key_address(public_key_of_secret(secret))


def wrap_key_for(
    key: bytes, delivery_public_key: bytes, chain_id: int, market: str, purchase_id: int
) -> WrappedKey:
    """Encrypt a 32-byte content key to the buyer's delivery key (the seller's side)."""
    _check_key(key)
    buyer_point = _point(delivery_public_key, "delivery_public_key")
    while True:
        ephemeral = PrivateKey(secrets.token_bytes(32))
        point = ephemeral.public_key.format(compressed=True)
        x = int.from_bytes(point[1:], "big")
        if x < SECP256K1_N:  # else ecrecover could not check it: pick another (p ~ 2**-128)
            break
    shared = buyer_point.multiply(ephemeral.secret)
    pad = _pad(shared, chain_id, market, purchase_id)
    return WrappedKey(x, point[0] == 3, bytes(a ^ b for a, b in zip(key, pad, strict=True)))


def unwrap_key(
    wrapped: WrappedKey, secret: int, chain_id: int, market: str, purchase_id: int
) -> bytes:
    """The buyer's side of :func:`wrap_key_for` (``InvalidInputError`` for a bad point)."""
    prefix = b"\x03" if wrapped.ephemeral_odd else b"\x02"
    ephemeral = _point(prefix + wrapped.ephemeral_x.to_bytes(32, "big"), "ephemeral_x")
    shared = ephemeral.multiply(secret.to_bytes(32, "big"))
    pad = _pad(shared, chain_id, market, purchase_id)
    return bytes(a ^ b for a, b in zip(wrapped.wrapped, pad, strict=True))


def delivery_hash(
    delivery_key: str, wrapped: WrappedKey, content: bytes, committed_key_hash: bytes
) -> bytes:
    """What the contract stores for a delivery and the buyer signs to acknowledge it."""
    return keccak(
        encode(
            ["address", "uint256", "bool", "bytes32", "bytes32", "bytes32"],
            [
                delivery_key,
                wrapped.ephemeral_x,
                wrapped.ephemeral_odd,
                wrapped.wrapped,
                content,
                committed_key_hash,
            ],
        )
    )


def _pad(shared: PublicKey, chain_id: int, market: str, purchase_id: int) -> bytes:
    shared_address = keccak(shared.format(compressed=False)[1:])[12:]
    return keccak(
        encode(
            ["address", "uint256", "address", "uint256"],
            [shared_address, chain_id, market, purchase_id],
        )
    )


def _point(public_key: bytes, field: str) -> PublicKey:
    if not isinstance(public_key, bytes) or len(public_key) not in (33, 64, 65):
        raise InvalidInputError(f"{field}: expected 33, 64 or 65 bytes", field=field)
    raw = b"\x04" + public_key if len(public_key) == 64 else public_key
    try:
        return PublicKey(raw)
    except ValueError:
        raise InvalidInputError(f"{field}: not a point on secp256k1", field=field) from None


def _check_key(key: object) -> None:
    if not isinstance(key, bytes) or len(key) != 32:
        raise InvalidInputError("key: expected 32 bytes", field="key")
