"""Ingestion: every check a device message must pass, then a durable store and the log.

A message is accepted only when it parses (size, shape, units), arrived on its
device's topic, names a registered and active device, carries a timestamp
within ``max_skew_ms`` of the ingester's clock, is signed by the device's
current key, and has a sequence number above the device's last accepted one.
The last two checks that involve other ingesters (sequence, duplicates) are the
database's (:mod:`ailedger.iot.store`). Everything else is rejected with a
:class:`~ailedger.iot.messages.RejectReason`, counted per device and reason;
nothing raised by a payload escapes :meth:`Ingester.ingest_many`.

Accepted messages become log records (canonical JSON: the signed message as
published, the registry and chain it is verified against, and when it was
received), stored with the message, then appended to the ``iot`` transparency
log by :class:`LogWriter` (several may share one store and log).
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ailedger.core.identity import canonical_json
from ailedger.core.log import TransparencyLog
from ailedger.errors import InvalidInputError
from ailedger.iot.messages import MessageCodec, Rejected, RejectReason, SignedMessage, parse_message
from ailedger.iot.registry import DeviceInfo, DeviceStatus, RegistryCache
from ailedger.iot.store import Accepted, MessageStore
from ailedger.iot.topics import device_of_topic

__all__ = ["DEFAULT_MAX_SKEW_MS", "Ingester", "LogWriter", "Outcome", "message_record"]

DEFAULT_MAX_SKEW_MS = 5 * 60 * 1000
# Threads recovering a batch's signatures: one per core, as libsecp256k1 releases the GIL.
SIGNATURE_WORKERS = min(os.cpu_count() or 1, 8)
_PARALLEL_FROM = 64  # smaller batches: a thread hand-off costs more than it saves
RECORD_KIND = "ailedger/iot-message"
_STATUS_REASON = {
    DeviceStatus.SUSPENDED: RejectReason.SUSPENDED_DEVICE,
    DeviceStatus.REVOKED: RejectReason.REVOKED_DEVICE,
}


@dataclass(frozen=True)
class Outcome:
    """What happened to one message: accepted, or rejected for ``reason`` (``detail`` says why)."""

    accepted: bool
    device: str | None = None
    seq: int | None = None
    reason: RejectReason | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "device": self.device,
            "seq": self.seq,
            "reason": None if self.reason is None else str(self.reason),
            "detail": self.detail,
        }


def message_record(signed: SignedMessage, codec: MessageCodec, received_at: int) -> bytes:
    """The log record of an accepted message: self-contained for a later proof bundle."""
    domain = codec.domain
    return canonical_json(
        {
            "kind": RECORD_KIND,
            "chainId": domain.chain_id,
            "registry": domain.verifying_contract,
            "receivedAt": received_at,
            "message": signed.to_wire(),
        }
    )


class Ingester:
    """Checks device messages against the registry cache and stores the accepted ones.

    ``reorder_window`` 0 accepts only a seq above the device's last accepted one;
    ingesters sharing a subscription need a window (see ``MessageStore.admit``),
    because the broker hands one device's messages to several of them.
    ``verify=False`` skips the registry and signature checks (benchmark baseline
    only). ``clock`` returns Unix seconds.
    """

    def __init__(
        self,
        codec: MessageCodec,
        registry: RegistryCache,
        store: MessageStore,
        *,
        max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
        reorder_window: int = 0,
        registry_refresh_seconds: float = 1.0,
        verify: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_skew_ms <= 0:
            raise InvalidInputError(
                f"max_skew_ms: expected a positive number, got {max_skew_ms}", field="max_skew_ms"
            )
        self.codec = codec
        self.registry = registry
        self.store = store
        self.max_skew_ms = max_skew_ms
        self.reorder_window = reorder_window
        self.verify = verify
        self._refresh_seconds = registry_refresh_seconds
        self._clock = clock
        self._synced_at = float("-inf")

    def refresh(self) -> int:
        """Apply the registry's new events now; returns how many."""
        self._synced_at = self._clock()
        return self.registry.sync()

    def ingest(self, payload: bytes, topic: str | None = None) -> Outcome:
        """Check and store one message (see :meth:`ingest_many`)."""
        return self.ingest_many([(payload, topic)])[0]

    def ingest_many(self, items: Iterable[tuple[bytes, str | None]]) -> list[Outcome]:
        """Check each (payload, topic) and store the accepted ones in one transaction.

        ``topic`` None means a transport without topics (HTTP). Never raises for a
        bad payload: its outcome names the reason, and the rejection is counted.
        The batch's signatures are recovered together, on :data:`SIGNATURE_WORKERS`
        threads (libsecp256k1 runs without the GIL, so they use every core).
        """
        now_s = self._clock()
        if now_s - self._synced_at >= self._refresh_seconds:
            self.refresh()
        now = int(now_s * 1000)
        outcomes: list[Outcome | None] = []
        checked: list[tuple[int, SignedMessage, DeviceInfo | None]] = []
        for payload, topic in items:
            try:
                signed, info = self._check(payload, topic, now)
            except Rejected as rejected:
                outcomes.append(_refused(rejected))
                continue
            checked.append((len(outcomes), signed, info))
            outcomes.append(None)
        signers = self._signers([signed for _, signed, info in checked if info is not None])
        candidates: list[tuple[int, Accepted]] = []
        for position, signed, info in checked:
            if info is not None:
                refusal = _signature_refusal(signed, info, next(signers))
                if refusal is not None:
                    outcomes[position] = _refused(refusal)
                    continue
            record = message_record(signed, self.codec, now)
            message = signed.message
            accepted = Accepted(
                message.device, message.seq, message.type, message.timestamp, now, record
            )
            candidates.append((position, accepted))
        stored = self.store.admit(
            [accepted for _, accepted in candidates], window=self.reorder_window
        )
        for (position, accepted), refusal in zip(candidates, stored, strict=True):
            if refusal is None:
                outcomes[position] = Outcome(True, accepted.device, accepted.seq)
            else:
                reason = RejectReason(refusal)
                detail = (
                    f"{reason}: seq {accepted.seq} of {accepted.device} is already stored"
                    if reason is RejectReason.REPLAYED
                    else f"{reason}: seq {accepted.seq} is too far below the device's last "
                    f"accepted one (reorder window {self.reorder_window})"
                )
                outcomes[position] = Outcome(False, accepted.device, accepted.seq, reason, detail)
        done = [outcome for outcome in outcomes if outcome is not None]
        rejected = Counter(
            (outcome.device or "", str(outcome.reason)) for outcome in done if not outcome.accepted
        )
        self.store.count_rejections(dict(rejected))
        return done

    def refuse(self, rejected: Rejected) -> Outcome:
        """Count a message refused before it reached :meth:`ingest_many` (e.g. cut off)."""
        self.store.count_rejections({(rejected.device or "", str(rejected.reason)): 1})
        return _refused(rejected)

    def _check(
        self, payload: bytes, topic: str | None, now: int
    ) -> tuple[SignedMessage, DeviceInfo | None]:
        """Every check but the signature's; the device's entry to check it against
        (None when verification is off)."""
        signed = parse_message(payload)
        device = signed.device
        if (
            topic is not None
            and device_of_topic(self.codec.domain.verifying_contract, topic) != device
        ):
            raise Rejected(
                RejectReason.WRONG_TOPIC,
                f"message of {device} arrived on topic {topic!r}",
                device=device,
            )
        if abs(signed.message.timestamp - now) > self.max_skew_ms:
            raise Rejected(
                RejectReason.CLOCK_SKEW,
                f"timestamp {signed.message.timestamp} is {signed.message.timestamp - now} ms "
                f"from the ingester's clock; at most {self.max_skew_ms} allowed",
                device=device,
            )
        if not self.verify:
            return signed, None
        info = self.registry.get(device)
        if info is None:
            raise Rejected(
                RejectReason.UNKNOWN_DEVICE, f"{device} is not registered", device=device
            )
        if info.status in _STATUS_REASON:
            raise Rejected(
                _STATUS_REASON[info.status], f"{device} is {info.status.label}", device=device
            )
        return signed, info

    def _signers(self, messages: Sequence[SignedMessage]) -> Iterator[str | InvalidInputError]:
        """Each message's signer (or why its signature is malformed), in order."""
        if len(messages) < _PARALLEL_FROM or SIGNATURE_WORKERS < 2:
            return iter(_recover_each(self.codec, messages))
        size = -(-len(messages) // SIGNATURE_WORKERS)
        chunks = [messages[start : start + size] for start in range(0, len(messages), size)]
        results = _signature_pool().map(_recover_each, [self.codec] * len(chunks), chunks)
        return (signer for chunk in results for signer in chunk)

    def stats(self) -> dict[str, Any]:
        """Accepted per device and type, rejected per device and reason, and totals."""
        return fleet_stats(self.store)


def _recover_each(
    codec: MessageCodec, messages: Sequence[SignedMessage]
) -> list[str | InvalidInputError]:
    signers: list[str | InvalidInputError] = []
    for signed in messages:
        try:
            signers.append(codec.signer(signed))
        except InvalidInputError as error:
            signers.append(error)
    return signers


@functools.cache
def _signature_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(SIGNATURE_WORKERS, thread_name_prefix="iot-signatures")


def _signature_refusal(
    signed: SignedMessage, info: DeviceInfo, signer: str | InvalidInputError
) -> Rejected | None:
    if isinstance(signer, InvalidInputError):
        return Rejected(RejectReason.BAD_SIGNATURE, str(signer), device=signed.device)
    if signer != info.key:
        return Rejected(
            RejectReason.BAD_SIGNATURE,
            f"signed by {signer}, expected the device key {info.key}",
            device=signed.device,
        )
    return None


def _refused(rejected: Rejected) -> Outcome:
    return Outcome(False, rejected.device, None, rejected.reason, str(rejected))


def fleet_stats(store: MessageStore) -> dict[str, Any]:
    """Accepted and rejected counts per device, plus totals per type and reason."""
    devices: dict[str, dict[str, Any]] = {}
    totals: dict[str, Counter[str]] = {"accepted": Counter(), "rejected": Counter()}
    for (device, kind), count in store.accepted_counts().items():
        devices.setdefault(device, {"accepted": {}, "rejected": {}})["accepted"][kind] = count
        totals["accepted"][kind] += count
    for (device, reason), count in store.rejection_counts().items():
        entry = devices.setdefault(device or "(none)", {"accepted": {}, "rejected": {}})
        entry["rejected"][reason] = count
        totals["rejected"][reason] += count
    return {"devices": devices, "totals": {k: dict(v) for k, v in totals.items()}}


class LogWriter:
    """Appends stored messages to the ``iot`` transparency log, in store order, once each.

    Several writers may share one store and log (the API and ``iot ingest`` on one
    data dir): each drain holds the log's write lock while it first marks what the
    others appended (:meth:`recover`) and then appends what is still pending, so no
    message is appended twice. The same :meth:`recover` repairs a crash between
    the log append and the store's update.
    """

    def __init__(self, store: MessageStore, log: TransparencyLog) -> None:
        self.store = store
        self.log = log
        self.recover()

    def recover(self) -> int:
        """Mark messages the log already holds but the store does not know as logged."""
        logged = self.store.logged_count()
        size = self.log.size
        marks = []
        for index in range(logged, size):
            message = json.loads(self.log.record(index))["message"]
            stored = self.store.find(message["device"], message["seq"])
            if stored is not None and stored.leaf_index is None:
                marks.append((stored.id, index))
        self.store.mark_logged(marks)
        return len(marks)

    def drain(self, batch: int = 10_000) -> int:
        """Append every pending message; returns how many were appended."""
        total = 0
        while True:
            # The lock spans the pending read and the append; the store's update
            # follows the log's commit, and the next writer's recover() covers the gap.
            with self.log.store.writing():
                self.recover()
                pending = self.store.pending(batch)
                if not pending:
                    return total
                refs = self.log.append_many(message.record for message in pending)
            self.store.mark_logged(
                [(message.id, ref.index) for message, ref in zip(pending, refs, strict=True)]
            )
            total += len(pending)


def outcome_counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """Outcomes tallied as {"accepted": n, "<reason>": n, ...}."""
    counts = Counter("accepted" if o.accepted else str(o.reason) for o in outcomes)
    return dict(counts)
