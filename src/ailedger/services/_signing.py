"""Fast EIP-712 signing and recovery for fixed structs of static fields.

Vouchers and receipts are signed once per paid call, so they skip the general
typed-data encoder (:mod:`ailedger.core.identity`, which parses the type JSON on
every call): a :class:`StructSigner` precomputes the domain separator and type
hash, ABI-encodes the static fields as 32-byte words, and signs or recovers the
digest with libsecp256k1 (coincurve). The digests are EIP-712 exactly; tests
check them against :func:`ailedger.core.identity.hash_typed` and the contracts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_account.signers.local import LocalAccount

from ailedger.core.identity import Domain, TypeFields
from ailedger.core.identity.secp256k1 import keccak256, recover_digest, sign_digest
from ailedger.errors import InvalidInputError

_STATIC_TYPES = {"uint256", "uint64", "bytes32", "address"}


class StructSigner:
    """Signs and recovers one EIP-712 struct type (all fields static) under one domain."""

    def __init__(self, domain: Domain, primary_type: str, types: TypeFields) -> None:
        fields = list(types[primary_type])
        for field in fields:
            if field["type"] not in _STATIC_TYPES:
                raise InvalidInputError(
                    f"types: {primary_type}.{field['name']} has type {field['type']}; "
                    f"expected one of {sorted(_STATIC_TYPES)}",
                    field="types",
                )
        self.domain = domain
        self.primary_type = primary_type
        self._fields = [(f["name"], f["type"]) for f in fields]
        signature = ",".join(f"{typ} {name}" for name, typ in self._fields)
        self._prefix = b"\x19\x01" + domain.separator()
        self._type_hash = keccak256(f"{primary_type}({signature})".encode())

    def digest(self, message: Mapping[str, Any]) -> bytes:
        """The 32-byte EIP-712 digest of ``message``."""
        words = [self._type_hash]
        for name, typ in self._fields:
            words.append(_word(message.get(name), typ, f"{self.primary_type}.{name}"))
        return keccak256(self._prefix + keccak256(b"".join(words)))

    def sign(self, account: LocalAccount, message: Mapping[str, Any]) -> bytes:
        """The 65-byte signature r || s || v (v = 27 or 28, low s) of ``account``."""
        return sign_digest(account, self.digest(message))

    def recover(self, message: Mapping[str, Any], signature: bytes) -> str:
        """The checksum address that signed ``message``; raises on a malformed signature."""
        return recover_digest(self.digest(message), signature)


def _word(value: object, typ: str, field: str) -> bytes:
    if typ == "bytes32":
        if isinstance(value, bytes | bytearray) and len(value) == 32:
            return bytes(value)
        raise InvalidInputError(f"{field}: expected 32 bytes, got {value!r}", field=field)
    if typ == "address":
        if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
            try:
                return bytes(12) + bytes.fromhex(value[2:])
            except ValueError:
                pass
        raise InvalidInputError(f"{field}: expected an address, got {value!r}", field=field)
    bits = 256 if typ == "uint256" else 64
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise InvalidInputError(
            f"{field}: expected an integer in [0, 2**{bits}), got {value!r}", field=field
        )
    return value.to_bytes(32, "big")
