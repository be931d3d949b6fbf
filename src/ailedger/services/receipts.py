"""Call receipts: what a service signs for each paid call or batch, and what the log records.

A :class:`CallReceipt` binds a model (id and hash), the log its calls are recorded
in (the one the registry binds the model to), the payment (channel, voucher nonce,
cumulative amount, price) and salted commitments to the request and the
response. The service signs it as the EIP-712 ``CallReceipt`` struct under the
domain ``("AILedger ServiceReceipt", "1", chainId, ModelRegistry)``; the signer
must be the model's owner in the registry. The log record of the call is
:func:`call_record`: the signed receipt plus the consumer's voucher signature, in
canonical JSON.

Commitments are ``sha256(salt || canonical_json(value))`` with a 32-byte salt the
consumer picks, so neither an input nor an output (personal data, often) can be
guessed back from the public log.

A batch of calls paid by one voucher gets one :class:`BatchReceipt` (EIP-712
``BatchReceipt`` under the same domain): instead of two hashes it commits to the
number of calls and the RFC 9162 Merkle root over the calls' hashes (see
:mod:`ailedger.services.batches`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Self, TypeVar

from eth_account.signers.local import LocalAccount

from ailedger.core.chain import to_checksum
from ailedger.core.identity import Domain, TypeFields, canonical_json
from ailedger.errors import IntegrityError, InvalidInputError
from ailedger.services._signing import StructSigner
from ailedger.services.vouchers import Voucher

__all__ = [
    "BATCH_RECEIPT_TYPES",
    "RECEIPT_DOMAIN_NAME",
    "RECEIPT_TYPES",
    "RECORD_KIND",
    "BatchReceipt",
    "CallReceipt",
    "ReceiptSigner",
    "call_record",
    "commit",
    "receipt_domain",
]

RECEIPT_DOMAIN_NAME = "AILedger ServiceReceipt"
RECORD_KIND = "ailedger.services.call/v1"
SALT_BYTES = 32


def receipt_domain(chain_id: int, registry_address: str) -> Domain:
    """The domain of receipts for models of the ModelRegistry at ``registry_address``."""
    return Domain(RECEIPT_DOMAIN_NAME, "1", chain_id, registry_address)


def commit(salt: bytes, value: object) -> bytes:
    """``sha256(salt || canonical_json(value))``: a hiding commitment to ``value``."""
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise InvalidInputError(
            f"salt: expected {SALT_BYTES} bytes, got {salt!r:.40}", field="salt"
        )
    return hashlib.sha256(salt + canonical_json(value)).digest()


@dataclass(frozen=True)
class _Receipt:
    """What both receipt kinds share: the model, its log, the payment; and, derived from
    the fields, their EIP-712 type and message, JSON form and parsing.

    Every field but ``service`` and ``signature`` is signed, in field order, under its
    camelCase name; ``int`` fields are non-negative integers (``uint64`` for
    ``timestamp`` and ``count``, else ``uint256``) and the other ``bytes`` fields 32-byte
    hashes, both in JSON and when parsed. ``log_id`` is the AnchorRegistry log the call
    is recorded in: the one the ModelRegistry binds the model to.
    """

    model_id: bytes
    model_hash: bytes
    log_id: bytes
    channel_id: int
    nonce: int
    amount: int
    price: int

    _UNSIGNED: ClassVar[tuple[str, ...]] = ("service", "signature")
    _UINT64: ClassVar[tuple[str, ...]] = ("timestamp", "count")

    @classmethod
    def eip712_fields(cls) -> list[dict[str, str]]:
        """The EIP-712 struct fields of this receipt kind, in signing order."""
        return [
            {
                "name": _camel(name),
                "type": "bytes32"
                if kind == "bytes"
                else ("uint64" if name in cls._UINT64 else "uint256"),
            }
            for name, kind in cls._signed_fields()
        ]

    @classmethod
    def _signed_fields(cls) -> list[tuple[str, str]]:
        return [(f.name, str(f.type)) for f in fields(cls) if f.name not in cls._UNSIGNED]

    def message(self) -> dict[str, Any]:
        return {_camel(name): getattr(self, name) for name, _ in self._signed_fields()}

    def to_dict(self) -> dict[str, Any]:
        return {field.name: _json_value(getattr(self, field.name)) for field in fields(self)}

    @classmethod
    def from_dict(cls, data: object) -> Self:
        """Parse a receipt; a malformed one raises ``InvalidInputError`` naming the field."""
        if not isinstance(data, dict):
            raise InvalidInputError("receipt: expected an object", field="receipt")
        declared = cls._signed_fields()
        ints = _ints(data, tuple(name for name, kind in declared if kind == "int"))
        hashes = {
            name: _hex(data.get(name), f"receipt.{name}", 32)
            for name, kind in declared
            if kind == "bytes"
        }
        return cls(
            **ints,
            **hashes,
            service=to_checksum(data.get("service"), "receipt.service"),
            signature=_hex(data.get("signature"), "receipt.signature", None),
        )


@dataclass(frozen=True)
class CallReceipt(_Receipt):
    """A service's signed statement of one paid call. ``timestamp`` is in milliseconds."""

    request_hash: bytes
    response_hash: bytes
    timestamp: int
    service: str
    signature: bytes = b""


@dataclass(frozen=True)
class BatchReceipt(_Receipt):
    """A service's signed statement of ``count`` calls paid by one voucher.

    ``price`` is the price of one call (the voucher pays ``count`` times it);
    ``items_root`` is the Merkle root over the calls' request and response hashes.
    """

    count: int
    items_root: bytes
    timestamp: int
    service: str
    signature: bytes = b""


_AnyReceipt = TypeVar("_AnyReceipt", CallReceipt, BatchReceipt)


class ReceiptSigner:
    """Signs and verifies receipts (single calls and batches) under one registry's domain."""

    def __init__(self, chain_id: int, registry_address: str) -> None:
        self.domain = receipt_domain(chain_id, registry_address)
        self._signers = {
            CallReceipt: StructSigner(self.domain, "CallReceipt", RECEIPT_TYPES),
            BatchReceipt: StructSigner(self.domain, "BatchReceipt", BATCH_RECEIPT_TYPES),
        }

    def sign(self, account: LocalAccount, receipt: _AnyReceipt) -> _AnyReceipt:
        """``receipt`` signed by ``account`` (which becomes its ``service``)."""
        unsigned = replace(receipt, service=account.address)
        signer = self._signers[type(receipt)]
        return replace(unsigned, signature=signer.sign(account, unsigned.message()))

    def verify(self, receipt: CallReceipt | BatchReceipt, expected_service: str) -> None:
        """Raise :class:`IntegrityError` unless ``expected_service`` signed exactly this receipt."""
        try:
            signer = self._signers[type(receipt)].recover(receipt.message(), receipt.signature)
        except InvalidInputError as error:
            raise IntegrityError(f"receipt: {error.message}", field="receipt.signature") from None
        expected = to_checksum(expected_service, "expected_service")
        if signer != expected or receipt.service != expected:
            raise IntegrityError(
                f"receipt: signed by {signer}, expected the model owner {expected}; "
                "the receipt was altered or is not from this service",
                field="receipt.signature",
            )


def call_record(receipt: CallReceipt, voucher: Voucher) -> bytes:
    """The log record of a paid call: the signed receipt and the voucher that paid for it."""
    return canonical_json(
        {
            "kind": RECORD_KIND,
            "receipt": receipt.to_dict(),
            "voucher_signature": "0x" + voucher.signature.hex(),
        }
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _json_value(value: object) -> object:
    return "0x" + value.hex() if isinstance(value, bytes) else value


def _ints(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, int]:
    ints = {}
    for name in names:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(
                f"receipt.{name}: expected a non-negative integer, got {value!r}",
                field=f"receipt.{name}",
            )
        ints[name] = value
    return ints


def _hex(value: object, field: str, length: int | None) -> bytes:
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        raise InvalidInputError(
            f"{field}: expected 0x-prefixed hex, got {value!r}", field=field
        ) from None
    if length is not None and len(raw) != length:
        raise InvalidInputError(f"{field}: expected {length} bytes, got {len(raw)}", field=field)
    return raw


# After the helpers above: the types are derived from the receipts' fields.
RECEIPT_TYPES: TypeFields = {"CallReceipt": CallReceipt.eip712_fields()}
BATCH_RECEIPT_TYPES: TypeFields = {"BatchReceipt": BatchReceipt.eip712_fields()}
