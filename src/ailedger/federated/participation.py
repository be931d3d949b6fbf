"""Screening the round's replies before aggregation: who took part, who was rejected and why.

Every reply is either accepted (its commitment is signed by the registered key it
names, for this job, model and round, once, and the arrays it carries have the
model's shapes, are finite and hash to the committed update hash, for the
committed number of examples) or rejected with the first reason that applies.
Rejections never stop the round: the others are aggregated.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord

from ailedger.core.identity import Domain
from ailedger.errors import AILedgerError
from ailedger.federated.commitments import COMMITMENT_KEY, UpdateCommitment
from ailedger.federated.encoding import from_record, parameters_hash

__all__ = ["NUM_EXAMPLES_KEY", "Accepted", "Rejected", "RoundContext", "screen"]

NUM_EXAMPLES_KEY = "num-examples"


@dataclass(frozen=True)
class RoundContext:
    """What every update of one round must be bound to."""

    job_id: int
    model_id: bytes
    round_number: int
    domain: Domain
    registered: Collection[str]
    shapes: Sequence[tuple[int, ...]]


@dataclass(frozen=True)
class Accepted:
    """An update that passed every check; ``message`` goes on to the strategy."""

    node_id: int
    commitment: UpdateCommitment
    arrays: list[np.ndarray]
    message: Message

    def record(self) -> dict[str, Any]:
        """The participation record of the ``fl`` log."""
        c = self.commitment
        return {
            "kind": "fl.participation",
            "status": "accepted",
            "job_id": c.job_id,
            "round": c.round_number,
            "client": c.client,
            "node_id": self.node_id,
            "model_id": "0x" + c.model_id.hex(),
            "update_hash": "0x" + c.update_hash.hex(),
            "num_examples": c.num_examples,
            "signature": "0x" + c.signature.hex(),
        }


@dataclass(frozen=True)
class Rejected:
    """A reply left out of the round, with the reason."""

    node_id: int
    client: str | None
    reason: str

    def record(self, job_id: int, round_number: int) -> dict[str, Any]:
        """The rejection record of the ``fl`` log."""
        return {
            "kind": "fl.participation",
            "status": "rejected",
            "job_id": job_id,
            "round": round_number,
            "client": self.client,
            "node_id": self.node_id,
            "reason": self.reason,
        }


class _Rejection(Exception):
    def __init__(self, reason: str, client: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.client = client


def screen(
    replies: Iterable[Message], context: RoundContext
) -> tuple[list[Accepted], list[Rejected]]:
    """Split ``replies`` into accepted updates and rejections (each with its reason)."""
    accepted: list[Accepted] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    for message in replies:
        node_id = message.metadata.src_node_id
        try:
            commitment, arrays = _check(message, context, seen)
        except _Rejection as rejection:
            rejected.append(Rejected(node_id, rejection.client, rejection.reason))
            continue
        seen.add(commitment.client)
        accepted.append(Accepted(node_id, commitment, arrays, message))
    return accepted, rejected


def _check(
    message: Message, context: RoundContext, seen: set[str]
) -> tuple[UpdateCommitment, list[np.ndarray]]:
    if message.has_error():
        raise _Rejection(f"client error: {message.error.reason}")
    content = message.content
    record = content.get(COMMITMENT_KEY)
    if not isinstance(record, ConfigRecord):
        raise _Rejection("no commitment")
    try:
        commitment = UpdateCommitment.from_record(record)
    except AILedgerError as error:
        raise _Rejection(f"malformed commitment: {error.message}") from None
    client = commitment.client
    try:
        signer = commitment.signer(context.domain)
    except AILedgerError as error:
        raise _Rejection(f"bad signature: {error.message}", client) from None
    if signer != client:
        raise _Rejection(f"signed by another key: {signer}, not {client}", client)
    if client not in context.registered:
        raise _Rejection("unregistered client", client)
    if (commitment.job_id, commitment.model_id) != (context.job_id, context.model_id):
        raise _Rejection(
            f"wrong job or model: job {commitment.job_id}, model 0x{commitment.model_id.hex()}",
            client,
        )
    if commitment.round_number != context.round_number:
        raise _Rejection(
            f"late: committed to round {commitment.round_number} in round {context.round_number}",
            client,
        )
    if client in seen:
        raise _Rejection("duplicate update in this round", client)
    arrays = _arrays(content, client, context.shapes)
    got_hash = parameters_hash(arrays)
    if got_hash != commitment.update_hash:
        raise _Rejection(
            f"commitment mismatch: update hash 0x{got_hash.hex()}, committed "
            f"0x{commitment.update_hash.hex()}",
            client,
        )
    metrics = content.get("metrics")
    examples = metrics.get(NUM_EXAMPLES_KEY) if isinstance(metrics, MetricRecord) else None
    if examples != commitment.num_examples or commitment.num_examples <= 0:
        raise _Rejection(
            f"commitment mismatch: num-examples {examples}, committed {commitment.num_examples}",
            client,
        )
    return commitment, arrays


def _arrays(content: Any, client: str, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    record = content.get("arrays")
    if not isinstance(record, ArrayRecord):
        raise _Rejection("no arrays", client)
    arrays = from_record(record)
    got = [tuple(a.shape) for a in arrays]
    if got != [tuple(s) for s in shapes]:
        raise _Rejection(f"wrong shape: expected {list(shapes)}, got {got}", client)
    if not all(np.isfinite(a).all() for a in arrays):
        raise _Rejection("not finite: the update holds NaN or infinity", client)
    return arrays
