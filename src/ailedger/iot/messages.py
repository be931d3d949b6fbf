"""Signed device messages: readings and actions, their wire form and fast EIP-712 digests.

A message travels as one JSON object, the EIP-712 message itself plus
``type`` and ``signature``::

    {"type": "reading", "device": "0x..", "seq": 5, "timestamp": 1700000000000,
     "values": [{"name": "temperature", "value": 4250, "unit": "Cel"}],
     "location": "", "signature": "0x<65 bytes>"}

Values are fixed point with three decimals (4250 = 4.25), so the bytes a
device signs carry no float rounding; timestamps are Unix milliseconds.
:func:`parse_message` validates at the edge and raises :class:`Rejected` with
the reason an ingester counts. Digests are computed here without the generic
typed-data encoder (type hashes precomputed, C Keccak), and equal
:func:`ailedger.core.identity.hash_typed` over ``READING_TYPES`` /
``ACTION_TYPES`` and ``DeviceRegistry.reading_digest`` on chain (tested).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from eth_account.signers.local import LocalAccount

from ailedger.contracts.typed_data import ACTION_TYPES, READING_TYPES
from ailedger.core.identity import Domain, TypeFields, canonical_json
from ailedger.core.identity.secp256k1 import keccak256, recover_digest, sign_digest
from ailedger.errors import InvalidInputError

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "Action",
    "Measurement",
    "MessageCodec",
    "Reading",
    "RejectReason",
    "Rejected",
    "SignedMessage",
    "checksum_address",
    "parse_message",
]

MAX_PAYLOAD_BYTES = 4096
MAX_VALUES = 8  # DeviceRegistry.MAX_VALUES
_MAX_NAME, _MAX_UNIT, _MAX_LOCATION, _MAX_KIND = 32, 16, 64, 32  # the contract's String sizes
_UINT64 = 1 << 64
_INT256 = 1 << 255
ACTION_KINDS = ("alarm", "compressor-restart")


class RejectReason(StrEnum):
    """Why an ingester refused a message; every refusal is counted under one of these."""

    OVERSIZED = "oversized"
    MALFORMED = "malformed"
    MISSING_UNIT = "missing_unit"
    WRONG_TOPIC = "wrong_topic"
    UNKNOWN_DEVICE = "unknown_device"
    SUSPENDED_DEVICE = "suspended_device"
    REVOKED_DEVICE = "revoked_device"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED = "replayed"
    STALE_SEQ = "stale_seq"
    CLOCK_SKEW = "clock_skew"


class Rejected(InvalidInputError):
    """A message refused for ``reason``; ``device`` is set when the payload named one."""

    def __init__(self, reason: RejectReason, message: str, *, device: str | None = None) -> None:
        super().__init__(f"{reason}: {message}", field=str(reason))
        self.reason = reason
        self.device = device


def _type_string(types: TypeFields, primary: str) -> str:
    def one(name: str) -> str:
        return f"{name}(" + ",".join(f"{f['type']} {f['name']}" for f in types[name]) + ")"

    # EIP-712: the primary type, then the struct types its fields reference, sorted by name.
    referenced = {f["type"].removesuffix("[]") for f in types[primary]} & set(types)
    return one(primary) + "".join(one(name) for name in sorted(referenced - {primary}))


@lru_cache(maxsize=4096)
def _text_hash(text: str) -> bytes:
    """EIP-712's hash of a ``string`` field; cached, as names, units and locations recur."""
    return keccak256(text.encode())


_READING_TYPEHASH = keccak256(_type_string(READING_TYPES, "Reading").encode())
_MEASUREMENT_TYPEHASH = keccak256(_type_string(READING_TYPES, "Measurement").encode())
_ACTION_TYPEHASH = keccak256(_type_string(ACTION_TYPES, "Action").encode())


@dataclass(frozen=True, slots=True)
class Measurement:
    """One sensor value: ``value`` in thousandths of ``unit`` (UCUM code, e.g. ``Cel``)."""

    name: str
    value: int
    unit: str

    def struct_hash(self) -> bytes:
        return keccak256(
            _MEASUREMENT_TYPEHASH
            + _text_hash(self.name)
            + (self.value % (1 << 256)).to_bytes(32, "big")
            + _text_hash(self.unit)
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit}


@dataclass(frozen=True, slots=True)
class Reading:
    """What a device measured at ``timestamp`` (Unix ms); ``seq`` grows with every message."""

    device: str
    seq: int
    timestamp: int
    values: tuple[Measurement, ...]
    location: str = ""

    type = "reading"

    def struct_hash(self) -> bytes:
        values_hash = keccak256(b"".join(m.struct_hash() for m in self.values))
        return keccak256(
            _READING_TYPEHASH
            + bytes(12)
            + bytes.fromhex(self.device[2:])
            + self.seq.to_bytes(32, "big")
            + self.timestamp.to_bytes(32, "big")
            + values_hash
            + _text_hash(self.location)
        )

    def to_dict(self) -> dict[str, Any]:
        """The EIP-712 message (``READING_TYPES``)."""
        return {
            "device": self.device,
            "seq": self.seq,
            "timestamp": self.timestamp,
            "values": [m.to_dict() for m in self.values],
            "location": self.location,
        }

    def value(self, name: str) -> float | None:
        """The measurement ``name`` as a float, or None when this reading has none."""
        return next((m.value / 1000 for m in self.values if m.name == name), None)


@dataclass(frozen=True, slots=True)
class Action:
    """What a device did (``kind``) because model ``model_id`` fired on reading ``trigger_seq``."""

    device: str
    seq: int
    timestamp: int
    kind: str
    model_id: bytes
    trigger_seq: int

    type = "action"

    def struct_hash(self) -> bytes:
        return keccak256(
            _ACTION_TYPEHASH
            + bytes(12)
            + bytes.fromhex(self.device[2:])
            + self.seq.to_bytes(32, "big")
            + self.timestamp.to_bytes(32, "big")
            + _text_hash(self.kind)
            + self.model_id
            + self.trigger_seq.to_bytes(32, "big")
        )

    def to_dict(self) -> dict[str, Any]:
        """The EIP-712 message (``ACTION_TYPES``)."""
        return {
            "device": self.device,
            "seq": self.seq,
            "timestamp": self.timestamp,
            "kind": self.kind,
            "modelId": "0x" + self.model_id.hex(),
            "triggerSeq": self.trigger_seq,
        }


Message = Reading | Action


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """A reading or action with the device's 65-byte signature over its EIP-712 digest."""

    message: Message
    signature: bytes

    @property
    def device(self) -> str:
        return self.message.device

    @property
    def seq(self) -> int:
        return self.message.seq

    def to_wire(self) -> dict[str, Any]:
        """The JSON object devices publish and ingesters parse."""
        return {
            "type": self.message.type,
            **self.message.to_dict(),
            "signature": "0x" + self.signature.hex(),
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON of :meth:`to_wire` (RFC 8785)."""
        return canonical_json(self.to_wire())


class MessageCodec:
    """Signs and recovers device messages under one DeviceRegistry's EIP-712 domain."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self._prefix = b"\x19\x01" + domain.separator()

    def digest(self, message: Message) -> bytes:
        """The 32-byte EIP-712 digest the device signs."""
        return keccak256(self._prefix + message.struct_hash())

    def sign(self, account: LocalAccount, message: Message) -> SignedMessage:
        """``message`` signed by ``account`` (low s, v = 27/28)."""
        return SignedMessage(message, sign_digest(account, self.digest(message)))

    def signer(self, signed: SignedMessage) -> str:
        """The address that signed; raises :class:`InvalidInputError` for a malformed signature."""
        return recover_digest(self.digest(signed.message), signed.signature)


def parse_message(payload: bytes) -> SignedMessage:
    """The :class:`SignedMessage` in ``payload``; :class:`Rejected` names what is wrong."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected(
            RejectReason.OVERSIZED,
            f"payload is {len(payload)} bytes, at most {MAX_PAYLOAD_BYTES} allowed",
        )
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as error:
        raise Rejected(RejectReason.MALFORMED, f"not JSON ({error})") from None
    if not isinstance(data, dict):
        raise Rejected(RejectReason.MALFORMED, f"expected a JSON object, got {type(data).__name__}")
    device = data.get("device")
    named = device if isinstance(device, str) else None
    try:
        return _parse_object(data)
    except Rejected as rejected:
        rejected.device = rejected.device or named
        raise


def _parse_object(data: dict[str, Any]) -> SignedMessage:
    kind = data.get("type")
    device = _address(data.get("device"))
    seq = _uint64(data, "seq")
    timestamp = _uint64(data, "timestamp")
    signature = _signature(data.get("signature"))
    message: Message
    if kind == "reading":
        _only(data, {"type", "device", "seq", "timestamp", "values", "location", "signature"})
        location = _string(data.get("location", ""), "location", _MAX_LOCATION)
        message = Reading(device, seq, timestamp, _measurements(data.get("values")), location)
    elif kind == "action":
        _only(
            data,
            {"type", "device", "seq", "timestamp", "kind", "modelId", "triggerSeq", "signature"},
        )
        action_kind = data.get("kind")
        if action_kind not in ACTION_KINDS:
            raise Rejected(
                RejectReason.MALFORMED, f"kind: expected one of {ACTION_KINDS}, got {action_kind!r}"
            )
        model_id = _bytes32(data.get("modelId"), "modelId")
        message = Action(device, seq, timestamp, action_kind, model_id, _uint64(data, "triggerSeq"))
    else:
        raise Rejected(
            RejectReason.MALFORMED, f"type: expected 'reading' or 'action', got {kind!r}"
        )
    return SignedMessage(message, signature)


def _only(data: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise Rejected(RejectReason.MALFORMED, f"unexpected fields {extra}")


def _address(value: object) -> str:
    checksummed = checksum_address(value) if isinstance(value, str) else None
    if checksummed is None:
        raise Rejected(RejectReason.MALFORMED, f"device: expected a 0x address, got {value!r}")
    return checksummed


@lru_cache(maxsize=1 << 16)
def checksum_address(value: str) -> str | None:
    """The EIP-55 form of ``value``, or None when it is no address or a wrong mixed case.

    Cached: a fleet's addresses recur in every message, and eth_utils' version costs
    more than the signature check.
    """
    if len(value) != 42 or not value.startswith(("0x", "0X")):
        return None
    body = value[2:]
    try:
        bytes.fromhex(body)
    except ValueError:
        return None
    lower = body.lower()
    digest = keccak256(lower.encode()).hex()
    checksummed = "0x" + "".join(
        char.upper() if int(nibble, 16) >= 8 else char
        for char, nibble in zip(lower, digest, strict=False)
    )
    if body not in (lower, body.upper()) and checksummed[2:] != body:
        return None
    return checksummed


def _uint64(data: dict[str, Any], field: str) -> int:
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _UINT64:
        raise Rejected(
            RejectReason.MALFORMED, f"{field}: expected an integer in [0, 2**64), got {value!r}"
        )
    return value


def _string(value: object, field: str, limit: int) -> str:
    if not isinstance(value, str) or len(value.encode()) > limit:
        raise Rejected(
            RejectReason.MALFORMED, f"{field}: expected a string of at most {limit} bytes"
        )
    return value


def _bytes32(value: object, field: str) -> bytes:
    if isinstance(value, str) and len(value) == 66 and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise Rejected(RejectReason.MALFORMED, f"{field}: expected 0x and 64 hex digits")


def _signature(value: object) -> bytes:
    if isinstance(value, str) and len(value) == 132 and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise Rejected(RejectReason.MALFORMED, "signature: expected 0x and 130 hex digits (65 bytes)")


def _measurements(values: object) -> tuple[Measurement, ...]:
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_VALUES:
        raise Rejected(
            RejectReason.MALFORMED, f"values: expected a list of 1 to {MAX_VALUES} measurements"
        )
    parsed = []
    for position, item in enumerate(values):
        if not isinstance(item, dict) or set(item) - {"name", "value", "unit"}:
            raise Rejected(
                RejectReason.MALFORMED,
                f"values[{position}]: expected an object with name, value and unit",
            )
        name = _string(item.get("name"), f"values[{position}].name", _MAX_NAME)
        value = item.get("value")
        if isinstance(value, bool) or not isinstance(value, int) or not -_INT256 <= value < _INT256:
            raise Rejected(
                RejectReason.MALFORMED,
                f"values[{position}].value: expected an integer (thousandths), got {value!r}",
            )
        unit = item.get("unit")
        if not unit:
            raise Rejected(RejectReason.MISSING_UNIT, f"values[{position}] ({name!r}) has no unit")
        parsed.append(
            Measurement(name, value, _string(unit, f"values[{position}].unit", _MAX_UNIT))
        )
    return tuple(parsed)
