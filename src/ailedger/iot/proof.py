"""Proofs of accepted device messages, in the one bundle format of every log.

An accepted reading or action is a record of the ``iot`` log (see
:func:`ailedger.iot.ingest.message_record`): canonical JSON holding the signed
message as the device published it, the chain and DeviceRegistry its signature
is under, and when it was received. Its bundle is a
:mod:`ailedger.core.log.bundle` bundle of kind ``ailedger.iot.proof/v1``, checked
by the same verifier as audited decisions, plus the checks of this kind:

- ``record``: the record is a well-formed message record, and the device's
  EIP-712 signature over the message recovers to a key (the signer);
- ``device_registry``: the record's chain is the connected one and the code at
  its registry address is the ``DeviceRegistry`` compiled from this package;
- ``device_key``: replaying that registry's events up to the anchor block, the
  signer was the device's key then, and the device was not revoked. The
  contract's views know only the current key; a message signed by a key rotated
  out (or a device revoked) before its record was anchored does not verify.

Example::

    >>> bundle = build_message_bundle(log, store, "0xAb..", 5)  # doctest: +SKIP
    >>> verify_message_bundle(bundle, chain).ok  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ailedger import contracts
from ailedger.contracts.typed_data import device_registry_domain
from ailedger.core.chain import Chain
from ailedger.core.identity import canonical_json
from ailedger.core.log import bundle as proof_bundle
from ailedger.core.log.bundle import CheckedRecord, RecordKind, Verdict
from ailedger.core.trust import Pins
from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError
from ailedger.iot.ingest import RECORD_KIND
from ailedger.iot.messages import MessageCodec, SignedMessage, checksum_address, parse_message
from ailedger.iot.registry import CONTRACT_NAME, DeviceStatus, device_at
from ailedger.iot.store import MessageStore

if TYPE_CHECKING:
    from ailedger.core.log import TransparencyLog

__all__ = [
    "BUNDLE_TYPE",
    "IOT_MESSAGES",
    "ProvenMessage",
    "build_message_bundle",
    "verify_message_bundle",
]

BUNDLE_TYPE = "ailedger.iot.proof/v1"
_RECORD_FIELDS = {"kind", "chainId", "registry", "receivedAt", "message"}


@dataclass(frozen=True)
class ProvenMessage:
    """An iot log record as read from a bundle, with the key that signed its message."""

    signed: SignedMessage
    signer: str
    chain_id: int
    registry: str
    received_at: int

    @property
    def subject(self) -> str:
        return f"{self.signed.message.type} {self.signed.device} seq {self.signed.seq}"


def _read_record(value: Any) -> ProvenMessage:
    if not isinstance(value, dict) or set(value) != _RECORD_FIELDS:
        got = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise InvalidInputError(
            f"record: expected an object with {sorted(_RECORD_FIELDS)}, got {got}", field="record"
        )
    if value["kind"] != RECORD_KIND:
        raise InvalidInputError(
            f"record: kind must be {RECORD_KIND!r}, got {value['kind']!r}", field="record"
        )
    chain_id, received_at = value["chainId"], value["receivedAt"]
    for name, number in (("chainId", chain_id), ("receivedAt", received_at)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise InvalidInputError(
                f"record: {name} must be a non-negative integer, got {number!r}", field=name
            )
    registry = value["registry"]
    if not isinstance(registry, str) or checksum_address(registry) != registry:
        raise InvalidInputError(
            f"record: registry must be a checksummed address, got {registry!r}", field="registry"
        )
    # The message as the ingester checked it: same parser, same limits.
    signed = parse_message(canonical_json(value["message"]))
    codec = MessageCodec(device_registry_domain(chain_id, registry))
    return ProvenMessage(signed, codec.signer(signed), chain_id, registry, received_at)


def _message_json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict) or canonical_json(value) != data:
        raise InvalidInputError("the log entry is not an iot message record", field="record")
    _read_record(value)
    return value


def _check_message(value: Any) -> CheckedRecord:
    proven = _read_record(value)
    return CheckedRecord(
        data=canonical_json(value),
        record_id=f"{proven.signed.device}/{proven.signed.seq}",
        detail=f"{proven.subject}, signed by {proven.signer}",
        value=proven,
    )


def _check_device_registry(record: CheckedRecord, chain: Chain) -> str:
    proven: ProvenMessage = record.value
    if proven.chain_id != chain.chain_id:
        raise IntegrityError(
            f"the message is signed for chain {proven.chain_id}, connected to chain "
            f"{chain.chain_id}",
            field="chainId",
        )
    contracts.check_deployed_code(chain, CONTRACT_NAME, proven.registry)
    return f"the {CONTRACT_NAME} at {proven.registry}"


def _check_device_key(record: CheckedRecord, chain: Chain) -> str:
    proven: ProvenMessage = record.value
    assert record.anchor is not None
    block = record.anchor.block_number
    device = proven.signed.device
    info = device_at(chain, proven.registry, device, block)
    if info is None:
        raise IntegrityError(
            f"{device} was not registered at the anchor block {block}", field="device"
        )
    if info.status is DeviceStatus.REVOKED:
        raise IntegrityError(f"{device} was revoked at the anchor block {block}", field="device")
    if info.key != proven.signer:
        raise IntegrityError(
            f"signed by {proven.signer}, but the key of {device} at the anchor block {block} "
            f"was {info.key}",
            field="signature",
        )
    return f"{proven.signer} was the key of {device} ({info.status.label}) at block {block}"


IOT_MESSAGES = proof_bundle.register_record_kind(
    RecordKind(
        BUNDLE_TYPE,
        "device message",
        _message_json,
        _check_message,
        chain_checks=(
            ("device_registry", _check_device_registry),
            ("device_key", _check_device_key),
        ),
    )
)


def build_message_bundle(
    log: TransparencyLog, store: MessageStore, device: str, seq: int
) -> dict[str, Any]:
    """The proof bundle of the accepted message (``device``, ``seq``).

    Raises ``NotFoundError`` when no such message was accepted, when it is not in
    the log yet (the log writer appends it), or not anchored yet.
    """
    stored = store.find(device, seq)
    if stored is None:
        raise NotFoundError(f"no accepted message {device} seq {seq}", field="seq")
    subject = f"{stored.type} {device} seq {seq}"
    if stored.leaf_index is None:
        raise NotFoundError(
            f"{subject} is not in the iot log yet: run the ingester with its log writer",
            field="seq",
        )
    return proof_bundle.build_bundle(log, stored.leaf_index, IOT_MESSAGES, subject=subject)


def verify_message_bundle(
    bundle: Mapping[str, Any], chain: Chain, pins: Pins | None = None
) -> Verdict:
    """Check a device message's bundle against the chain; see
    :func:`ailedger.core.log.bundle.verify_bundle`, plus this kind's checks."""
    return proof_bundle.verify_bundle(bundle, chain, pins, kinds=(IOT_MESSAGES,))
