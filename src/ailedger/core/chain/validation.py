"""Input checks at the chain boundary: addresses and amounts.

Every address that enters :mod:`ailedger.core.chain` passes :func:`to_checksum`;
every wei amount passes :func:`check_amount`. Errors name the field and say what
was expected versus what was got.
"""

from __future__ import annotations

import re
from functools import lru_cache

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ailedger.errors import InvalidInputError

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


@lru_cache(maxsize=4096)
def _checksum(lower_hex: str) -> str:
    """EIP-55: uppercase each hex letter whose nibble in keccak(lowercase address) is >= 8."""
    digest = keccak(text=lower_hex).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(lower_hex)
    )


def to_checksum(address: object, field: str = "address") -> str:
    """Return ``address`` in EIP-55 checksum form, or raise ``InvalidInputError`` naming ``field``.

    Accepts a ``0x``-prefixed 40-hex-digit string (all lowercase, all uppercase, or
    mixed case with a valid EIP-55 checksum) or 20 raw bytes. Mixed case with a
    wrong checksum is rejected: it is the usual sign of a mistyped address.
    """
    if isinstance(address, bytes | bytearray):
        if len(address) != 20:
            raise InvalidInputError(
                f"{field}: expected a 20-byte address, got {len(address)} bytes", field=field
            )
        return _checksum(bytes(address).hex())
    if not isinstance(address, str):
        raise InvalidInputError(
            f"{field}: expected an address string like 0x…(40 hex digits), "
            f"got {type(address).__name__}",
            field=field,
        )
    if not _HEX_ADDRESS.fullmatch(address):
        raise InvalidInputError(
            f"{field}: expected 0x followed by 40 hex digits, got {address!r}", field=field
        )
    body = address[2:]
    checksummed = _checksum(body.lower())
    if body != body.lower() and body != body.upper() and address != checksummed:
        raise InvalidInputError(
            f"{field}: {address} has an invalid EIP-55 checksum (expected {checksummed}); "
            "check the address for typos",
            field=field,
        )
    return checksummed


def to_address_bytes(address: object, field: str = "address") -> bytes:
    """Validate like :func:`to_checksum` and return the 20 raw bytes."""
    return bytes.fromhex(to_checksum(address, field)[2:])


def check_amount(value: object, field: str = "value") -> int:
    """Return ``value`` if it is a non-negative integer (wei), else raise ``InvalidInputError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(
            f"{field}: expected a non-negative integer amount in wei, "
            f"got {type(value).__name__} {value!r}",
            field=field,
        )
    if value < 0:
        raise InvalidInputError(
            f"{field}: expected a non-negative amount, got {value}", field=field
        )
    if value >= 2**256:
        raise InvalidInputError(f"{field}: amount {value} does not fit in uint256", field=field)
    return value


def check_signer(signer: object, field: str = "signer") -> LocalAccount:
    """Return ``signer`` if it is an eth_account ``LocalAccount`` (it signs locally)."""
    if not isinstance(signer, LocalAccount):
        raise InvalidInputError(
            f"{field}: expected an eth_account LocalAccount, got {type(signer).__name__}",
            field=field,
        )
    return signer


def check_data(data: object) -> bytes:
    """Call or init data: bytes (or bytearray), else ``InvalidInputError``."""
    if not isinstance(data, bytes | bytearray):
        raise InvalidInputError(f"data: expected bytes, got {type(data).__name__}", field="data")
    return bytes(data)
