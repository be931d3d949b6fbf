"""Self-contained proof bundles for single decisions.

A decision's bundle is the one proof format of :mod:`ailedger.core.log.bundle`,
of kind ``ailedger.audit.proof/v1`` (:data:`ailedger.audit.verify.DECISIONS`):
its ``record`` is the decision record's JSON, whose canonical bytes are the log
entry. What is decision-specific here is finding the entry by decision id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ailedger.audit.index import DecisionIndex
from ailedger.audit.record import DecisionRecord
from ailedger.audit.verify import DECISIONS
from ailedger.core.log.bundle import AnchoredHeads, build_bundle
from ailedger.errors import IntegrityError, NotFoundError

if TYPE_CHECKING:
    from ailedger.core.log import TransparencyLog

__all__ = ["AnchoredHeads", "build_proof_bundle", "logged_record"]


def logged_record(decision_id: str, log: TransparencyLog, index: DecisionIndex) -> DecisionRecord:
    """The record of a decision as it stands in the log; ``NotFoundError`` if unknown."""
    leaf_index = _leaf_index(decision_id, index)
    record = DecisionRecord.from_bytes(log.record(leaf_index))
    _check_holds(decision_id, leaf_index, record.decision_id)
    return record


def build_proof_bundle(
    decision_id: str,
    log: TransparencyLog,
    index: DecisionIndex,
    *,
    anchored: AnchoredHeads | None = None,
) -> dict[str, Any]:
    """The proof bundle of one decision.

    Raises ``NotFoundError`` for an unknown decision id, or for a decision whose
    batch is not anchored yet (close the log's batch first). ``anchored`` lets a
    caller building many bundles read the log's heads once.
    """
    leaf_index = _leaf_index(decision_id, index)
    bundle = build_bundle(
        log, leaf_index, DECISIONS, anchored=anchored, subject=f"decision {decision_id}"
    )
    _check_holds(decision_id, leaf_index, bundle["record"]["decision_id"])
    return bundle


def _check_holds(decision_id: str, leaf_index: int, logged_id: str) -> None:
    if logged_id != decision_id:
        raise IntegrityError(
            f"log entry {leaf_index} should hold decision {decision_id}, it holds {logged_id}",
            field="decision_id",
        )


def _leaf_index(decision_id: str, index: DecisionIndex) -> int:
    entry = index.get(decision_id)
    if entry.leaf_index is None:
        raise NotFoundError(
            f"decision {decision_id} was never appended to the log (interrupted)",
            field="decision_id",
        )
    return entry.leaf_index
