"""``TransparencyLog``: append records, prove them, close batches into anchored heads.

The log keeps the tree's right border (a :class:`~ailedger.core.log.nodes.CompactRange`)
in memory, so an append hashes O(1) nodes on average and writes one row per record; a
proof reads O(log n) stored nodes in one query. A batch closes when it reaches
``BatchPolicy.max_records`` records or is ``max_seconds`` old; closing signs a tree head,
stores it, and anchors it on chain with one transaction.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ailedger.core.log import merkle
from ailedger.core.log.anchor import Anchorer
from ailedger.core.log.heads import Anchor, SignedTreeHead, TreeHead
from ailedger.core.log.nodes import CompactRange, fold, node_offset, node_row, perfect_subtrees
from ailedger.core.log.proofs import ConsistencyProof, InclusionProof, LeafRef, LeafRefs
from ailedger.core.log.store import LogStore
from ailedger.errors import AILedgerError, IntegrityError, InvalidInputError, NotFoundError

MAX_RECORD_BYTES = 1 << 20  # records are commitments and metadata; bulk data goes to blobs
_LOG_ID_KEY = "log_id"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchPolicy:
    """When a batch of appended records closes into a signed, anchored tree head."""

    max_records: int = 10_000
    max_seconds: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.max_records, bool) or not isinstance(self.max_records, int):
            raise InvalidInputError("max_records: expected an integer", field="max_records")
        if self.max_records < 1:
            raise InvalidInputError(
                f"max_records: expected >= 1, got {self.max_records}", field="max_records"
            )
        if not self.max_seconds > 0:
            raise InvalidInputError(
                f"max_seconds: expected > 0, got {self.max_seconds}", field="max_seconds"
            )


class TransparencyLog:
    """An append-only RFC 9162 log over a :class:`LogStore`, optionally anchored on chain.

    Without an ``anchorer`` the log appends and proves but cannot sign heads.
    """

    def __init__(
        self,
        store: LogStore,
        *,
        anchorer: Anchorer | None = None,
        policy: BatchPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.anchorer = anchorer
        self.policy = policy or BatchPolicy()
        self._clock = clock
        self._lock = threading.RLock()
        # The right border is read on first use, so that a damaged store still opens
        # (for verify_log to say what is wrong with it).
        self._border: CompactRange | None = None
        heads = store.heads()
        self._head_size = heads[-1].head.tree_size if heads else 0
        self._batch_started = clock()
        if anchorer is not None:
            self._bind_log_id(anchorer.log_id)

    # Appending.
    @property
    def size(self) -> int:
        """Number of records in the log, including those other writers appended."""
        return self.store.size()

    def _border_at(self, size: int) -> CompactRange:
        """The right border of the first ``size`` records, re-read from the store when
        another writer (another process, or another log object) appended meanwhile."""
        if self._border is None or self._border.size != size:
            peaks = perfect_subtrees(0, size) if size else []
            self._border = CompactRange(size, [self._node(level, i) for level, i in peaks])
        return self._border

    def append(self, data: bytes) -> LeafRef:
        """Append one record; return once it is durably stored."""
        return self.append_many([data])[0]

    def append_many(self, items: Iterable[bytes]) -> LeafRefs:
        """Append records in one transaction: all are stored, or none (then it raises).

        Several writers (processes, or log objects) may append to one store: each
        append holds the store's write lock and goes after whatever is stored then.
        Returns a sequence of :class:`LeafRef`, one per record, in order.
        """
        entries = _check_records(items)
        if not entries:
            return LeafRefs(self.size, [])
        sha256 = hashlib.sha256
        leaf_hashes = [sha256(b"\x00" + entry).digest() for entry in entries]
        with self._lock:
            try:
                with self.store.writing() as start:
                    border = self._border_at(start)
                    blobs = border.extend(leaf_hashes)
                    self.store.append(start, entries, blobs)
            except BaseException:
                self._border = None  # maybe extended but not stored: re-read on next use
                raise
            if start <= self._head_size:
                self._batch_started = self._clock()  # the first record opens a new batch
            self._after_append()
        return LeafRefs(start, leaf_hashes)

    def _after_append(self) -> None:
        if self.anchorer is not None and self.batch_due():
            try:
                self.close_batch()
            except AILedgerError as error:
                # The records are durable already; the head stays pending and is
                # anchored by the next close_batch() / anchor_pending().
                _log.warning("closing the batch at size %d failed: %s", self.size, error)

    # Reading and proving.
    def record(self, index: int) -> bytes:
        """Record ``index`` exactly as appended."""
        self._check_index(index, self.size)
        entries = self.store.entries(index, index + 1)
        if not entries:
            raise IntegrityError(f"record {index} is missing from the store")
        return entries[0]

    def leaf_hash(self, index: int) -> bytes:
        """The RFC 9162 leaf hash of record ``index``."""
        self._check_index(index, self.size)
        return self._node(0, index)

    def root(self, size: int | None = None) -> bytes:
        """``MTH`` of the first ``size`` records (default: all)."""
        size = self._check_size(size)
        if self._border is not None and self._border.size == size:
            return self._border.root()
        return self._subtree_hashes([(0, size)])[0] if size else merkle.EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """Prove record ``index`` is in the tree of ``size`` records (default: all)."""
        size = self._check_size(size)
        self._check_index(index, size)
        hashes = self._subtree_hashes(merkle.path_ranges(index, size))
        return InclusionProof(index, size, tuple(hashes))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Prove the tree of ``old_size`` records is a prefix of the one of ``new_size``."""
        new_size = self._check_size(new_size)
        if isinstance(old_size, bool) or not isinstance(old_size, int):
            raise InvalidInputError("old_size: expected an integer", field="old_size")
        hashes = self._subtree_hashes(merkle.proof_ranges(old_size, new_size))
        return ConsistencyProof(old_size, new_size, tuple(hashes))

    # Heads and anchoring.
    def heads(self) -> list[SignedTreeHead]:
        """Every signed head, oldest first."""
        return self.store.heads()

    def head(self) -> SignedTreeHead | None:
        """The latest signed head, or None before the first batch closes."""
        heads = self.store.heads()
        return heads[-1] if heads else None

    def anchors(self) -> list[Anchor]:
        """Where each anchored head was anchored, oldest first."""
        return self.store.anchors()

    def batch_due(self) -> bool:
        """Whether the open batch has reached its size or age limit."""
        pending = self.size - self._head_size
        if pending <= 0:
            return False
        too_old = self._clock() - self._batch_started >= self.policy.max_seconds
        return pending >= self.policy.max_records or too_old

    def poll(self) -> SignedTreeHead | None:
        """Close the batch if it is due (call periodically so batches close by time)."""
        with self._lock:
            return self.close_batch() if self.batch_due() else None

    def close_batch(self) -> SignedTreeHead | None:
        """Sign a head over every record so far, store it, and anchor all pending heads.

        Returns the new head, or None when nothing was appended since the last one.
        """
        anchorer = self._require_anchorer()
        with self._lock:
            signed = None
            # Under the write lock: another writer may have appended or closed a batch.
            with self.store.writing() as size:
                previous = self.head()
                head_size = previous.head.tree_size if previous else 0
                if size > head_size:
                    now_ms = int(self._clock() * 1000)
                    # The registry rejects a head older than the previous one: never go back.
                    timestamp = max(now_ms, previous.head.timestamp if previous else 0)
                    root = self._border_at(size).root()
                    signed = anchorer.sign(TreeHead(anchorer.log_id, size, root, timestamp))
                    self.store.add_head(signed)
                    head_size = size
            self._head_size = head_size
            self._batch_started = self._clock()
            self.anchor_pending()
            return signed

    def anchor_pending(self) -> list[Anchor]:
        """Anchor every stored head that is not yet on chain, oldest first.

        After a crash a head may be on chain without its anchor recorded here: it is
        found on chain and recorded rather than sent twice.
        """
        anchorer = self._require_anchorer()
        with self._lock:
            anchored = {a.tree_size for a in self.store.anchors()}
            done = []
            for signed in self.store.heads():
                if signed.head.tree_size in anchored:
                    continue
                # One writer at a time sends anchors; the others find them done.
                with self.store.writing():
                    anchored = {a.tree_size for a in self.store.anchors()}
                    if signed.head.tree_size in anchored:
                        continue
                    anchor = anchorer.find_anchor(signed.head) or anchorer.anchor(
                        signed, self._proof_from_anchored(anchorer, signed.head.tree_size)
                    )
                    self.store.add_anchor(anchor)
                done.append(anchor)
            return done

    def close(self) -> None:
        """Release the store."""
        self.store.close()

    # Internals.
    def _proof_from_anchored(self, anchorer: Anchorer, tree_size: int) -> list[bytes]:
        """The consistency proof the registry checks: from its latest head to ``tree_size``."""
        anchored = anchorer.anchored_size()
        return self._subtree_hashes(merkle.proof_ranges(anchored, tree_size)) if anchored else []

    def _bind_log_id(self, log_id: bytes) -> None:
        stored = self.store.get_meta(_LOG_ID_KEY)
        if stored is None:
            with self.store.writing():  # two writers opening a new log bind it once
                stored = self.store.get_meta(_LOG_ID_KEY)
                if stored is None:
                    stored = "0x" + log_id.hex()
                    self.store.set_meta(_LOG_ID_KEY, stored)
        if stored != "0x" + log_id.hex():
            raise InvalidInputError(
                f"log_id: this store belongs to log {stored}, got 0x{log_id.hex()}",
                field="log_id",
            )

    def _require_anchorer(self) -> Anchorer:
        if self.anchorer is None:
            raise InvalidInputError(
                "this log has no signing key and registry: open it with an anchorer",
                field="anchorer",
            )
        return self.anchorer

    def _node(self, level: int, index: int) -> bytes:
        row = node_row(level, index)
        return _slice(self.store.node_blobs([row]).get(row), row, level)

    def _subtree_hashes(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return subtree_hashes(self.store, ranges)

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= self.size:
            raise InvalidInputError(
                f"tree size: expected an integer in [0, {self.size}], got {size!r}", field="size"
            )
        return size

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InvalidInputError(
                f"index: expected a non-negative integer, got {index!r}", field="index"
            )
        if index >= size:
            raise NotFoundError(
                f"record {index} does not exist: expected index < {size}", field="index"
            )


def subtree_hashes(store: LogStore, ranges: list[tuple[int, int]]) -> list[bytes]:
    """``MTH(D[start:end])`` for each range, reading every stored node in one query."""
    pieces = [perfect_subtrees(start, end) for start, end in ranges]
    blobs = store.node_blobs({node_row(lv, i) for nodes in pieces for lv, i in nodes})
    return [
        fold([_slice(blobs.get(node_row(lv, i)), node_row(lv, i), lv) for lv, i in nodes])
        for nodes in pieces
    ]


def _slice(blob: bytes | None, row: int, level: int) -> bytes:
    start = node_offset(level)
    if blob is None or len(blob) < start + merkle.HASH_SIZE:
        raise IntegrityError(f"stored tree node (level {level}) of record {row} is missing")
    return blob[start : start + merkle.HASH_SIZE]


def _check_records(items: Iterable[bytes]) -> list[bytes]:
    """The records as a list of ``bytes``, or InvalidInputError naming the first bad one."""
    entries = items if isinstance(items, list) else list(items)
    # Fast path for the common case (all bytes, none too large) without a call per record.
    if all(type(entry) is bytes for entry in entries) and (
        not entries or max(map(len, entries)) <= MAX_RECORD_BYTES
    ):
        return entries
    return [_check_record(i, data) for i, data in enumerate(entries)]


def _check_record(position: int, data: object) -> bytes:
    if type(data) is not bytes:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInputError(
                f"record {position}: expected bytes, got {type(data).__name__}", field="data"
            )
        data = bytes(data)
    if len(data) > MAX_RECORD_BYTES:
        raise InvalidInputError(
            f"record {position}: too large: expected at most {MAX_RECORD_BYTES} bytes, "
            f"got {len(data)}",
            field="data",
        )
    return data
