"""The operator's private decision table (SQLite): what is not in the public record.

For each decision: its leaf index in the log (to find it by id), the salt of its
input commitment (handed to the data subject, kept here so it can be reissued),
and, when the raw input was kept, the blob address and the blob key wrapped for
the auditor. The operator cannot read the raw input back: it never keeps the
blob key unwrapped. Model cards are kept by hash so exports can include them.

A decision row is written before its record is appended to the log and given its
leaf index after, so a crash in between leaves a row without index (reported as
not yet logged) rather than a logged record whose salt is lost.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ailedger.audit.model_card import ModelCard
from ailedger.core.storage.sqlite import SqliteFile
from ailedger.errors import InvalidInputError, NotFoundError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    decision_id TEXT PRIMARY KEY,
    decided_at TEXT NOT NULL,
    salt BLOB NOT NULL,
    model_card_hash TEXT NOT NULL,
    blob_address TEXT,
    wrapped_key BLOB,
    leaf_index INTEGER UNIQUE
);
CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (decided_at);
CREATE TABLE IF NOT EXISTS model_cards (
    card_hash TEXT PRIMARY KEY,
    card_json TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class DecisionEntry:
    """The operator-side facts about one decision."""

    decision_id: str
    decided_at: datetime
    salt: bytes
    model_card_hash: str
    blob_address: str | None
    wrapped_key: bytes | None
    leaf_index: int | None


@dataclass(frozen=True)
class PendingDecision:
    """A decision about to be appended to the log."""

    decision_id: str
    decided_at: datetime
    salt: bytes
    model_card_hash: str
    blob_address: str | None = None
    wrapped_key: bytes | None = None


class DecisionIndex:
    """Decision id -> leaf index, salt and stored input, in one SQLite file."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """Open (or create) the index at ``path``; ``read_only`` writes nothing.

        Raises :class:`IntegrityError` naming the file when it is truncated or damaged
        (never starts a fresh, empty index in its place).
        """
        self.path = path
        self._file = SqliteFile(
            path,
            "decision index",
            "restore it from a backup (the decision log itself is intact: it does not "
            "depend on this file)",
        )
        # One connection shared by the API's worker threads, used under a lock. FULL:
        # a salt handed to a data subject is on disk. IMMEDIATE: the driver takes the
        # write lock when a write transaction begins, so writers queue, never deadlock.
        self._lock = threading.RLock()
        self._db = self._file.connect(read_only=read_only, isolation_level="IMMEDIATE")
        if not read_only:
            with self._file.guard():
                self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> DecisionIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add_card(self, card: ModelCard) -> str:
        """Keep a model card; return its hash."""
        card_hash = card.card_hash()
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO model_cards VALUES (?, ?)",
                (card_hash, json.dumps(card.to_json_dict())),
            )
        return card_hash

    def card(self, card_hash: str) -> ModelCard:
        """The model card kept under ``card_hash``; ``NotFoundError`` if none is."""
        with self._lock:
            row = self._db.execute(
                "SELECT card_json FROM model_cards WHERE card_hash = ?", (card_hash,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no model card with hash {card_hash}", field="model_card_hash")
        return ModelCard.model_validate_json(row[0])

    def add_pending(self, pending: list[PendingDecision]) -> None:
        """Record decisions before they are appended (one transaction)."""
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO decisions (decision_id, decided_at, salt, model_card_hash, "
                "blob_address, wrapped_key) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        p.decision_id,
                        _iso(p.decided_at),
                        p.salt,
                        p.model_card_hash,
                        p.blob_address,
                        p.wrapped_key,
                    )
                    for p in pending
                ],
            )

    def set_leaf_indexes(self, indexes: dict[str, int]) -> None:
        """Attach log positions once the records are appended (one transaction)."""
        with self._lock, self._db:
            self._db.executemany(
                "UPDATE decisions SET leaf_index = ? WHERE decision_id = ?",
                [(index, decision_id) for decision_id, index in indexes.items()],
            )

    def get(self, decision_id: str) -> DecisionEntry:
        """The entry of one decision; ``NotFoundError`` if there is none."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM decisions WHERE decision_id = ?", (decision_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no decision with id {decision_id!r}", field="decision_id")
        return _entry(row)

    def between(self, since: datetime, until: datetime) -> Iterator[DecisionEntry]:
        """Logged decisions with ``since <= decided_at < until``, in log order."""
        query = (
            f"SELECT {_COLUMNS} FROM decisions WHERE decided_at >= ? AND decided_at < ? "
            "AND leaf_index IS NOT NULL AND leaf_index > ? ORDER BY leaf_index LIMIT ?"
        )
        after = -1
        while True:
            # Pages, so that a long export neither holds the lock nor loads every row.
            with self._lock:
                rows = self._db.execute(query, (_iso(since), _iso(until), after, _PAGE)).fetchall()
            yield from (_entry(row) for row in rows)
            if len(rows) < _PAGE:
                return
            after = rows[-1][6]

    def recent(self, limit: int = 20, offset: int = 0, id_prefix: str = "") -> list[DecisionEntry]:
        """The latest logged decisions, newest first, skipping the ``offset`` newest.

        With ``id_prefix`` (lower-case hex) only decisions whose id starts with it.
        """
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM decisions WHERE leaf_index IS NOT NULL "
                "AND substr(decision_id, 1, ?) = ? ORDER BY leaf_index DESC LIMIT ? OFFSET ?",
                (len(id_prefix), id_prefix, limit, offset),
            ).fetchall()
        return [_entry(row) for row in rows]

    def count(self, id_prefix: str = "") -> int:
        """How many decisions are logged (those with a leaf index), optionally by id prefix."""
        with self._lock:
            return self._db.execute(
                "SELECT COUNT(*) FROM decisions WHERE leaf_index IS NOT NULL "
                "AND substr(decision_id, 1, ?) = ?",
                (len(id_prefix), id_prefix),
            ).fetchone()[0]


_PAGE = 1_000
_COLUMNS = "decision_id, decided_at, salt, model_card_hash, blob_address, wrapped_key, leaf_index"


def _iso(moment: datetime) -> str:
    # One fixed format in UTC, so that text order in SQLite is time order.
    if moment.tzinfo is None:
        raise InvalidInputError(f"time {moment} must carry a timezone", field="time")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _entry(row: tuple) -> DecisionEntry:
    return DecisionEntry(
        decision_id=row[0],
        decided_at=datetime.fromisoformat(row[1]),
        salt=bytes(row[2]),
        model_card_hash=row[3],
        blob_address=row[4],
        wrapped_key=bytes(row[5]) if row[5] is not None else None,
        leaf_index=row[6],
    )
