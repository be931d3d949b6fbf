"""Accepted device messages and rejection counts, shared by every ingester of a fleet.

Across ingester processes the database, not the process, keeps (device, seq)
unique and each device's highest accepted sequence number, which only grows;
how far below it a new message may be is the anti-replay window of
:meth:`MessageStore.admit`. SQLite in the data dir by default,
PostgreSQL schema ``iot`` when ``database_url`` is set.

Each accepted row keeps the exact record bytes that go to the ``iot``
transparency log and, once appended, its leaf index; :meth:`MessageStore.pending`
and :meth:`MessageStore.mark_logged` let one log writer drain them in order.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ailedger.config import Settings
from ailedger.core.storage.sqlite import SqliteFile
from ailedger.errors import InvalidInputError

__all__ = ["Accepted", "MessageStore", "StoredMessage", "open_message_store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id {serial},
    device TEXT NOT NULL,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    timestamp BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    record {blob} NOT NULL,
    leaf_index BIGINT,
    UNIQUE (device, seq));
CREATE INDEX IF NOT EXISTS messages_pending ON messages (id) WHERE leaf_index IS NULL;
CREATE TABLE IF NOT EXISTS last_seq (device TEXT PRIMARY KEY, seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS rejections (
    device TEXT NOT NULL, reason TEXT NOT NULL, count BIGINT NOT NULL,
    PRIMARY KEY (device, reason));
"""
# Moves a device's highest accepted sequence number forward only.
_ADVANCE = (
    "INSERT INTO last_seq (device, seq) VALUES ({p}, {p}) ON CONFLICT (device) DO UPDATE "
    "SET seq = excluded.seq WHERE last_seq.seq < excluded.seq"
)
_COUNT_REJECTION = (
    "INSERT INTO rejections (device, reason, count) VALUES ({p}, {p}, {p}) "
    "ON CONFLICT (device, reason) DO UPDATE SET count = rejections.count + excluded.count"
)


@dataclass(frozen=True)
class Accepted:
    """A verified message about to be stored: its identity and its log record."""

    device: str
    seq: int
    type: str
    timestamp: int
    received_at: int
    record: bytes


@dataclass(frozen=True)
class StoredMessage(Accepted):
    """A stored message; ``leaf_index`` is None until the log writer appended it."""

    id: int
    leaf_index: int | None


class MessageStore:
    """The message table on one SQL engine (see :func:`open_message_store`)."""

    def __init__(self, connection: Any, *, param: str) -> None:
        self._conn = connection
        self._p = param
        self._lock = threading.Lock()

    def _sql(self, text: str) -> str:
        return text.replace("{p}", self._p).replace("?", self._p)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        raise NotImplementedError

    def admit(self, messages: Sequence[Accepted], *, window: int = 0) -> list[str | None]:
        """Store each message that is new and not too old, in one transaction.

        A message is new when (device, seq) is not stored (else ``"replayed"``); it is
        too old when seq <= highest accepted seq of its device - ``window`` (then
        ``"stale_seq"``). ``window`` 0 is the strict rule: above the last accepted.
        A positive window is an anti-replay window (RFC 4303 3.4.3): several
        ingesters of one shared subscription may store a device's messages slightly
        out of order, and the unique (device, seq) still refuses every replay.
        Returns None per stored message, else the reason.
        """
        if not messages:
            return []
        outcomes: list[str | None] = []
        highest = self._sql("SELECT seq FROM last_seq WHERE device = ?")
        insert = self._sql(
            "INSERT INTO messages (device, seq, type, timestamp, received_at, record) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device, seq) DO NOTHING"
        )
        exists = self._sql("SELECT 1 FROM messages WHERE device = ? AND seq = ?")
        advance = self._sql(_ADVANCE)
        with self._lock, self._transaction() as cursor:
            for message in messages:
                cursor.execute(highest, (message.device,))
                row = cursor.fetchone()
                if row is not None and message.seq <= row[0] - window:
                    cursor.execute(exists, (message.device, message.seq))
                    outcomes.append("replayed" if cursor.fetchone() else "stale_seq")
                    continue
                cursor.execute(
                    insert,
                    (
                        message.device,
                        message.seq,
                        message.type,
                        message.timestamp,
                        message.received_at,
                        message.record,
                    ),
                )
                if cursor.rowcount != 1:
                    outcomes.append("replayed")
                    continue
                cursor.execute(advance, (message.device, message.seq))
                outcomes.append(None)
        return outcomes

    def count_rejections(self, counts: dict[tuple[str, str], int]) -> None:
        """Add ``counts`` ((device, reason) -> n; device "" when none was named)."""
        if not counts:
            return
        statement = self._sql(_COUNT_REJECTION)
        with self._lock, self._transaction() as cursor:
            for (device, reason), count in sorted(counts.items()):
                cursor.execute(statement, (device, reason, count))

    def pending(self, limit: int = 10_000) -> list[StoredMessage]:
        """Stored messages not yet in the log, oldest first."""
        return self._messages("WHERE leaf_index IS NULL ORDER BY id LIMIT ?", (limit,))

    def mark_logged(self, ids_and_leaves: Sequence[tuple[int, int]]) -> None:
        """Record the leaf index each message (by id) got in the log."""
        statement = self._sql("UPDATE messages SET leaf_index = ? WHERE id = ?")
        with self._lock, self._transaction() as cursor:
            for message_id, leaf in ids_and_leaves:
                cursor.execute(statement, (leaf, message_id))

    def logged_count(self) -> int:
        """How many stored messages have a leaf index."""
        return self._scalar("SELECT COUNT(*) FROM messages WHERE leaf_index IS NOT NULL")

    def find(self, device: str, seq: int) -> StoredMessage | None:
        """The stored message (device, seq), if any."""
        rows = self._messages("WHERE device = ? AND seq = ?", (device, seq))
        return rows[0] if rows else None

    def messages(self, device: str | None = None, limit: int = 1000) -> list[StoredMessage]:
        """The latest ``limit`` messages (of ``device``), oldest first."""
        where = "WHERE device = ? " if device else ""
        params: tuple[Any, ...] = (device, limit) if device else (limit,)
        rows = self._messages(f"{where}ORDER BY id DESC LIMIT ?", params)
        return rows[::-1]

    def accepted_counts(self) -> dict[tuple[str, str], int]:
        """(device, type) -> number of stored messages."""
        rows = self._rows("SELECT device, type, COUNT(*) FROM messages GROUP BY device, type")
        return {(device, kind): int(count) for device, kind, count in rows}

    def rejection_counts(self) -> dict[tuple[str, str], int]:
        """(device, reason) -> number of rejected messages."""
        rows = self._rows("SELECT device, reason, count FROM rejections")
        return {(device, reason): int(count) for device, reason, count in rows}

    def message_count(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM messages")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _messages(self, tail: str, params: tuple[Any, ...]) -> list[StoredMessage]:
        rows = self._rows(
            "SELECT device, seq, type, timestamp, received_at, record, id, leaf_index "
            f"FROM messages {tail}",
            params,
        )
        return [StoredMessage(*row[:5], bytes(row[5]), *row[6:]) for row in rows]

    def _rows(self, text: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return list(self._conn.execute(self._sql(text), params).fetchall())

    def _scalar(self, text: str) -> int:
        return int(self._rows(text)[0][0])


class _SqliteMessageStore(MessageStore):
    def __init__(self, path: Path) -> None:
        # NORMAL, as the logs: a stored message survives a killed process before the
        # broker hears its acknowledgement.
        file = SqliteFile(path, "IoT message store")
        connection = file.connect(synchronous="NORMAL", busy_timeout=30.0)
        connection.executescript(
            _SCHEMA.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT", blob="BLOB")
        )
        super().__init__(connection, param="?")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        cursor = self._conn.cursor()
        # IMMEDIATE: take the write lock first, so two ingesters never both read "not stored".
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")


class _PostgresMessageStore(MessageStore):
    def __init__(self, url: str, schema: str) -> None:
        import psycopg
        from psycopg import sql

        try:
            connection = psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as error:
            raise InvalidInputError(
                f"database_url: cannot connect to PostgreSQL ({error})", field="database_url"
            ) from None
        with connection.transaction():
            connection.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
            connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            for statement in _SCHEMA.format(serial="BIGSERIAL PRIMARY KEY", blob="BYTEA").split(
                ";"
            ):
                if statement.strip():
                    connection.execute(statement)
        super().__init__(connection, param="%s")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._conn.transaction(), self._conn.cursor() as cursor:
            yield cursor


def open_message_store(settings: Settings, *, schema: str = "iot") -> MessageStore:
    """PostgreSQL schema ``schema`` when ``settings.database_url`` is set, else SQLite
    at ``<home>/iot/messages.sqlite3``."""
    if not schema.isidentifier():
        raise InvalidInputError(f"schema: expected an identifier, got {schema!r}", field="schema")
    if settings.database_url:
        return _PostgresMessageStore(settings.database_url, schema)
    settings.ensure_home()
    return _SqliteMessageStore(settings.home / "iot" / f"{schema}.sqlite3")
