"""EIP-712 typed-data signing and verification for off-chain records.

A record type is declared once as EIP-712 ``types`` (the same shape a contract
verifies on chain), then signed by a keystore account and checked by anyone
with the signer's address. Built on eth_account's ``encode_typed_data``.

Example::

    >>> from eth_account import Account
    >>> account = Account.create()
    >>> domain = Domain("AILedger Audit", "1", chain_id=31337)
    >>> types = {"Decision": [{"name": "score", "type": "uint256"}]}
    >>> signature = sign_typed(account, domain, "Decision", types, {"score": 7})
    >>> verify_typed(domain, "Decision", types, {"score": 7}, signature, account.address)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_abi.exceptions import EncodingError
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_keys.exceptions import BadSignature
from eth_utils import is_checksum_address, is_hex_address, keccak, to_checksum_address
from eth_utils.exceptions import ValidationError

from ailedger.core.identity.canonical import canonical_json
from ailedger.core.identity.secp256k1 import require_signature_bytes
from ailedger.errors import InvalidInputError, UnauthorizedError

__all__ = [
    "Domain",
    "TypeFields",
    "document_signer",
    "hash_typed",
    "recover_typed",
    "sign_document",
    "sign_typed",
    "verify_typed",
]

# snekmate's ecdsa (every contract's signature check) refuses s above n/2 and ecrecover
# any v but 27/28; off chain the same rules hold, so both sides accept the same bytes.
_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0

# {"TreeHead": [{"name": "logId", "type": "bytes32"}, ...], ...}: EIP712Domain excluded.
TypeFields = Mapping[str, Sequence[Mapping[str, str]]]


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain separating one application's signatures from another's."""

    name: str
    version: str
    chain_id: int
    verifying_contract: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int):
            raise InvalidInputError(
                f"chain_id: expected an integer, got {type(self.chain_id).__name__}",
                field="chain_id",
            )
        if self.chain_id < 0:
            raise InvalidInputError(
                f"chain_id: expected a non-negative integer, got {self.chain_id}",
                field="chain_id",
            )
        if self.verifying_contract is not None:
            checksummed = _checksum(self.verifying_contract, "verifying_contract")
            object.__setattr__(self, "verifying_contract", checksummed)

    def fields(self) -> list[dict[str, str]]:
        """The ``EIP712Domain`` type: only the fields this domain sets."""
        fields = [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
        ]
        if self.verifying_contract is not None:
            fields.append({"name": "verifyingContract", "type": "address"})
        return fields

    def separator(self) -> bytes:
        """The 32-byte domain separator (what a contract's ``DOMAIN_SEPARATOR()`` returns)."""
        fields = self.fields()
        type_string = "EIP712Domain(" + ",".join(f"{f['type']} {f['name']}" for f in fields) + ")"
        types = ["bytes32", "bytes32", "bytes32", "uint256"]
        values: list[Any] = [
            keccak(text=type_string),
            keccak(text=self.name),
            keccak(text=self.version),
            self.chain_id,
        ]
        if self.verifying_contract is not None:
            types.append("address")
            values.append(self.verifying_contract)
        return keccak(abi_encode(types, values))

    def as_dict(self) -> dict[str, Any]:
        """The domain as EIP-712 JSON (camelCase keys)."""
        data: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
        }
        if self.verifying_contract is not None:
            data["verifyingContract"] = self.verifying_contract
        return data


def sign_typed(
    account: LocalAccount,
    domain: Domain,
    primary_type: str,
    types: TypeFields,
    message: Mapping[str, Any],
) -> bytes:
    """Sign ``message`` of type ``primary_type``; returns the 65-byte signature r || s || v.

    ``v`` is 27 or 28, the form snekmate's ``ecdsa`` (and ``ecrecover``) expect.
    """
    signable = _signable(domain, primary_type, types, message)
    return bytes(account.sign_message(signable).signature)


def hash_typed(
    domain: Domain, primary_type: str, types: TypeFields, message: Mapping[str, Any]
) -> bytes:
    """The 32-byte EIP-712 digest a signature covers (keccak256 of 0x1901 || domain || struct)."""
    signable = _signable(domain, primary_type, types, message)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def recover_typed(
    domain: Domain,
    primary_type: str,
    types: TypeFields,
    message: Mapping[str, Any],
    signature: bytes,
) -> str:
    """The checksum address that produced ``signature`` over ``message``.

    Raises :class:`InvalidInputError` when the signature is not 65 bytes, is not in
    the canonical form the contracts accept (low s, v 27 or 28), or recovers no key.
    """
    require_signature_bytes(signature)
    _check_canonical(bytes(signature))
    signable = _signable(domain, primary_type, types, message)
    try:
        return Account.recover_message(signable, signature=bytes(signature))
    except (BadSignature, ValidationError, ValueError) as error:
        raise InvalidInputError(
            f"signature: not a valid secp256k1 signature ({error})", field="signature"
        ) from None


def verify_typed(
    domain: Domain,
    primary_type: str,
    types: TypeFields,
    message: Mapping[str, Any],
    signature: bytes,
    expected_signer: str,
) -> None:
    """Return if ``expected_signer`` signed ``message``, else raise :class:`UnauthorizedError`."""
    expected = _checksum(expected_signer, "expected_signer")
    got = recover_typed(domain, primary_type, types, message, signature)
    if got != expected:
        raise UnauthorizedError(
            f"{primary_type} signature is by {got}, expected {expected}", field="signature"
        )


# A JSON document (trust root, log identity, evidence) is signed as the keccak256 of its
# canonical JSON, so any EIP-712 wallet can sign one and the bytes signed are unambiguous.
_DOCUMENT_TYPES: TypeFields = {"Document": [{"name": "documentHash", "type": "bytes32"}]}


def sign_document(account: LocalAccount, domain: Domain, document: Mapping[str, Any]) -> bytes:
    """Sign ``document`` (canonical JSON, RFC 8785) as ``Document(bytes32 documentHash)``."""
    digest = keccak(canonical_json(dict(document)))
    return sign_typed(account, domain, "Document", _DOCUMENT_TYPES, {"documentHash": digest})


def document_signer(domain: Domain, document: Mapping[str, Any], signature: bytes) -> str:
    """The address that signed ``document`` with :func:`sign_document` under ``domain``."""
    digest = keccak(canonical_json(dict(document)))
    return recover_typed(domain, "Document", _DOCUMENT_TYPES, {"documentHash": digest}, signature)


def _check_canonical(signature: bytes) -> None:
    s = int.from_bytes(signature[32:64], "big")
    if s > _SECP256K1_HALF_N:
        raise InvalidInputError(
            "signature: s is above n/2 (a malleable high-s signature, refused on chain by "
            "snekmate's ecdsa)",
            field="signature",
        )
    if signature[64] not in (27, 28):
        raise InvalidInputError(
            f"signature: v must be 27 or 28 (as ecrecover requires), got {signature[64]}",
            field="signature",
        )


def _signable(
    domain: Domain, primary_type: str, types: TypeFields, message: Mapping[str, Any]
) -> SignableMessage:
    if "EIP712Domain" in types:
        raise InvalidInputError(
            "types: leave out EIP712Domain, it is derived from the Domain", field="types"
        )
    if primary_type not in types:
        raise InvalidInputError(
            f"primary_type: {primary_type!r} is not among the types ({', '.join(types)})",
            field="primary_type",
        )
    full_message = {
        "types": {
            "EIP712Domain": domain.fields(),
            **{name: [dict(field) for field in fields] for name, fields in types.items()},
        },
        "primaryType": primary_type,
        "domain": domain.as_dict(),
        "message": dict(message),
    }
    try:
        return encode_typed_data(full_message=full_message)
    except (EncodingError, ValueError, TypeError, KeyError) as error:
        raise InvalidInputError(
            f"message: does not match type {primary_type}: {error}", field="message"
        ) from None


def _checksum(address: str, field: str) -> str:
    if not isinstance(address, str) or not is_hex_address(address):
        raise InvalidInputError(
            f"{field}: expected 0x followed by 40 hex digits, got {address!r}", field=field
        )
    body = address[2:]
    mixed_case = body != body.lower() and body != body.upper()
    if mixed_case and not is_checksum_address(address):
        raise InvalidInputError(
            f"{field}: {address} has an invalid EIP-55 checksum "
            f"(expected {to_checksum_address(address)})",
            field=field,
        )
    return to_checksum_address(address)
