"""The ingester's loop: receive a batch, check and store it, log it, then acknowledge it.

Acknowledging only after the store committed is what makes QoS 1 lose
nothing: a message whose ingester died before the commit is redelivered, and
the store's unique (device, seq) turns a redelivery of a stored one into a
counted ``replayed`` rejection instead of a second copy.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ailedger.iot.ingest import Ingester, LogWriter, Outcome
from ailedger.iot.transport import Subscriber

__all__ = ["IngestTotals", "run_ingester"]


@dataclass
class IngestTotals:
    """What one ingester loop handled."""

    received: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, outcomes: list[Outcome]) -> None:
        self.received += len(outcomes)
        for outcome in outcomes:
            if outcome.accepted:
                self.accepted += 1
            else:
                self.rejected[str(outcome.reason)] += 1


def run_ingester(
    subscriber: Subscriber,
    ingester: Ingester,
    writer: LogWriter | None = None,
    *,
    until: int | None = None,
    stop: threading.Event | None = None,
    idle_seconds: float | None = None,
    batch: int = 1000,
    on_batch: Callable[[list[Outcome]], None] | None = None,
) -> IngestTotals:
    """Ingest deliveries until ``until`` were received, ``stop`` is set, or nothing
    arrived for ``idle_seconds``; append accepted ones to the log when ``writer`` is given."""
    totals = IngestTotals()
    started = time.perf_counter()
    idle_since = time.monotonic()
    while not (stop is not None and stop.is_set()):
        if until is not None and totals.received >= until:
            break
        wanted = batch if until is None else min(batch, until - totals.received)
        deliveries = subscriber.receive(wanted, timeout=0.1)
        if not deliveries:
            if idle_seconds is not None and time.monotonic() - idle_since >= idle_seconds:
                break
            continue
        idle_since = time.monotonic()
        outcomes = ingester.ingest_many((d.payload, d.topic) for d in deliveries)
        if writer is not None:
            writer.drain()
            writer.log.poll()
        for delivery in deliveries:
            delivery.ack()
        totals.add(outcomes)
        if on_batch is not None:
            on_batch(outcomes)
    totals.seconds = time.perf_counter() - started
    return totals
