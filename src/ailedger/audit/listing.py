"""What the API and the dashboard list: recent decisions and the log's tree heads.

Readers open the log and the decision table afresh (:func:`open_decision_reader`),
so they see what any process appended, without a signing key or chain access.
Nothing listed here is private: no salts, no raw inputs.

Example::

    >>> with open_decision_reader(settings) as (log, index):  # doctest: +SKIP
    ...     for decision in recent_decisions(log, index, limit=5):
    ...         print(decision.record.output, decision.anchored)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ailedger.audit.index import DecisionIndex
from ailedger.audit.proofs import AnchoredHeads
from ailedger.audit.record import DecisionRecord
from ailedger.audit.scenario import open_decision_index
from ailedger.config import Settings
from ailedger.core.log import Anchor, SignedTreeHead, TransparencyLog, open_store
from ailedger.errors import InvalidInputError

DECISION_LOG = "decisions"
MAX_LIMIT = 500


@dataclass(frozen=True)
class LoggedDecision:
    """A decision as published: its record, where it is in the log, whether it is anchored."""

    record: DecisionRecord
    leaf_index: int
    anchored: bool


@dataclass(frozen=True)
class HeadStatus:
    """A signed tree head, the records its batch added, and its anchor (``None``: pending)."""

    head: SignedTreeHead
    batch_size: int
    anchor: Anchor | None


@contextmanager
def open_decision_reader(settings: Settings) -> Iterator[tuple[TransparencyLog, DecisionIndex]]:
    """The decision log (read-only: no anchorer) and the decision table of this data dir."""
    log = TransparencyLog(open_store(settings, name=DECISION_LOG))
    try:
        with open_decision_index(settings) as index:
            yield log, index
    finally:
        log.close()


def recent_decisions(
    log: TransparencyLog,
    index: DecisionIndex,
    limit: int = 20,
    *,
    offset: int = 0,
    id_prefix: str = "",
) -> list[LoggedDecision]:
    """The latest ``limit`` logged decisions (1 to 500), newest first, after the ``offset``
    newest; with ``id_prefix``, only decisions whose id starts with it."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(
            f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}", field="limit"
        )
    anchored = AnchoredHeads(log)
    decisions = []
    for entry in index.recent(limit, offset, id_prefix):
        # recent() lists logged decisions only; one appended after this reader opened the
        # log is not in its tree yet.
        if entry.leaf_index is None or entry.leaf_index >= log.size:
            continue
        record = DecisionRecord.from_bytes(log.record(entry.leaf_index))
        decisions.append(
            LoggedDecision(
                record=record,
                leaf_index=entry.leaf_index,
                anchored=anchored.covering(entry.leaf_index) is not None,
            )
        )
    return decisions


def is_anchored(log: TransparencyLog, leaf_index: int) -> bool:
    """Whether an anchored tree head covers log entry ``leaf_index``."""
    return AnchoredHeads(log).covering(leaf_index) is not None


def head_history(log: TransparencyLog) -> list[HeadStatus]:
    """Every signed tree head of the log with its anchor, newest first."""
    anchors = {anchor.tree_size: anchor for anchor in log.anchors()}
    history, previous = [], 0
    for signed in log.heads():
        size = signed.head.tree_size
        history.append(HeadStatus(signed, size - previous, anchors.get(size)))
        previous = size
    return history[::-1]
