"""Self-contained proof bundles for single decisions.

A bundle is what a stranger needs to check a decision with nothing but read
access to the chain (:func:`ailedger.audit.verify.verify_bundle`)::

    {
      "bundle_type": "ailedger.audit.proof/v1",
      "record":          the decision record (its canonical JSON is the log entry),
      "leaf_hash":       "0x..." RFC 9162 leaf hash of the record,
      "inclusion_proof": {"leaf_index", "tree_size", "hashes": ["0x...", ...]},
      "tree_head":       {"log_id", "tree_size", "root_hash", "timestamp", "signature"},
      "anchor":          {"tree_size", "chain_id", "registry", "index", "tx_hash",
                          "block_number"}
    }

The tree head is the first anchored head that covers the decision, so a
decision's bundle stays the same however much the log grows afterwards.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Any

from ailedger.audit.index import DecisionIndex
from ailedger.audit.record import DecisionRecord
from ailedger.audit.verify import BUNDLE_TYPE
from ailedger.core.log.heads import Anchor, SignedTreeHead
from ailedger.errors import IntegrityError, NotFoundError

if TYPE_CHECKING:
    from ailedger.core.log import TransparencyLog


def logged_record(decision_id: str, log: TransparencyLog, index: DecisionIndex) -> DecisionRecord:
    """The record of a decision as it stands in the log; ``NotFoundError`` if unknown."""
    entry = index.get(decision_id)
    if entry.leaf_index is None:
        raise NotFoundError(
            f"decision {decision_id} was never appended to the log (interrupted)",
            field="decision_id",
        )
    record = DecisionRecord.from_bytes(log.record(entry.leaf_index))
    if record.decision_id != decision_id:
        raise IntegrityError(
            f"log entry {entry.leaf_index} should hold decision {decision_id}, "
            f"it holds {record.decision_id}",
            field="decision_id",
        )
    return record


class AnchoredHeads:
    """The log's anchored heads, read once, to find the first one covering a leaf."""

    def __init__(self, log: TransparencyLog) -> None:
        heads = {signed.head.tree_size: signed for signed in log.heads()}
        # Oldest first; a head is usable once it is both signed and anchored.
        self._covering = [
            (a.tree_size, heads[a.tree_size], a) for a in log.anchors() if a.tree_size in heads
        ]
        self._sizes = [size for size, _, _ in self._covering]

    def covering(self, leaf_index: int) -> tuple[SignedTreeHead, Anchor] | None:
        """The first anchored head whose tree contains ``leaf_index``, with its anchor."""
        position = bisect.bisect_right(self._sizes, leaf_index)
        if position == len(self._covering):
            return None
        _, signed, anchor = self._covering[position]
        return signed, anchor


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
    record = logged_record(decision_id, log, index)
    leaf_index = index.get(decision_id).leaf_index
    assert leaf_index is not None
    covering = (anchored or AnchoredHeads(log)).covering(leaf_index)
    if covering is None:
        raise NotFoundError(
            f"decision {decision_id} (log entry {leaf_index}) is not anchored yet: "
            "no anchored tree head covers it; close the log's batch first",
            field="decision_id",
        )
    signed, anchor = covering
    return {
        "bundle_type": BUNDLE_TYPE,
        "record": record.to_json_dict(),
        "leaf_hash": "0x" + log.leaf_hash(leaf_index).hex(),
        "inclusion_proof": log.inclusion_proof(leaf_index, signed.head.tree_size).to_dict(),
        "tree_head": signed.to_dict(),
        "anchor": anchor.to_dict(),
    }
