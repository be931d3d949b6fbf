"""SQL record stores: SQLite (the default, WAL, one file) and PostgreSQL (psycopg 3).

Both share the queries; they differ only in how they connect, their column types and
their triggers. The triggers make the tables append-only in the database itself: an
UPDATE, DELETE (or, on PostgreSQL, TRUNCATE) of any table raises.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from ailedger.core.log.heads import Anchor, SignedTreeHead, TreeHead
from ailedger.core.log.store import LogStore
from ailedger.core.storage.sqlite import SqliteFile, first_line
from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError, StorageError

TABLES = ("records", "tree_heads", "anchors", "log_meta")
_ROWS_PER_INSERT = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    idx {int} PRIMARY KEY, entry {blob} NOT NULL, nodes {blob} NOT NULL);
CREATE TABLE IF NOT EXISTS tree_heads (
    tree_size {int} PRIMARY KEY, log_id {blob} NOT NULL, root_hash {blob} NOT NULL,
    timestamp_ms {int} NOT NULL, signature {blob} NOT NULL, key_epoch {int} NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS anchors (
    tree_size {int} PRIMARY KEY REFERENCES tree_heads (tree_size), chain_id {int} NOT NULL,
    registry TEXT NOT NULL, head_index {int} NOT NULL, tx_hash {blob} NOT NULL,
    block_number {int} NOT NULL);
CREATE TABLE IF NOT EXISTS log_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_SQLITE_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE rejected'); END;
CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE rejected'); END;
"""

_POSTGRES_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION ailedger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '% is append-only: % rejected', TG_TABLE_NAME, TG_OP; END $$;
"""

_POSTGRES_TRIGGER = """
CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION ailedger_append_only();
"""


def _blob(value: Any) -> bytes:
    """A stored hash or record as bytes, whatever type the database returns it as.

    SQLite columns are loosely typed: someone editing the file directly (say with
    ``replace()``, which yields TEXT) can leave a non-BLOB value behind. It must reach
    the verifier as bytes, which then reports the record as changed, not crash it.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


@functools.cache
def _insert_sql(rows: int) -> str:
    return "INSERT INTO records (idx, entry, nodes) VALUES " + ", ".join(["(?, ?, ?)"] * rows)


class _SqlStore(LogStore):
    """The queries both backends share; ``?`` placeholders are rewritten per driver."""

    _param = "?"
    _unique_violation: tuple[type[Exception], ...] = ()

    def __init__(self) -> None:
        self._lock = threading.RLock()
        if not self.read_only:  # a reader of an old store migrates nothing
            self._add_key_epoch_column()
        self._writing = False
        self._size = self._stored_size()

    def _add_key_epoch_column(self) -> None:
        """Stores made before key epochs lack the column; all their heads were epoch 0."""
        columns = {c[0] for c in self._execute("SELECT * FROM tree_heads LIMIT 0").description}
        if "key_epoch" not in columns:
            self._execute("ALTER TABLE tree_heads ADD COLUMN key_epoch BIGINT NOT NULL DEFAULT 0")

    # Driver specifics.
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _insert_records(self, rows: Iterator[tuple[int, bytes, bytes]], count: int) -> None:
        raise NotImplementedError

    def _transaction(self) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def _lock_writers(self) -> None:
        """Inside the write transaction: shut out other writers until it ends."""

    def _sql(self, sql: str) -> str:
        return sql if self._param == "?" else sql.replace("?", self._param)

    def _query_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            return self._execute(self._sql(sql), params).fetchone()

    def _query_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._execute(self._sql(sql), params).fetchall()

    def _stored_size(self) -> int:
        return self._query_one("SELECT COALESCE(MAX(idx) + 1, 0) FROM records")[0]

    # LogStore.
    def size(self) -> int:
        with self._lock:
            if not self._writing:  # other writers may have appended since we last looked
                self._size = self._stored_size()
            return self._size

    @contextlib.contextmanager
    def writing(self) -> Iterator[int]:
        with self._lock:
            if self._writing:  # already inside: one transaction for the whole block
                yield self._size
                return
            with self._transaction():
                self._lock_writers()
                self._size = self._stored_size()
                self._writing = True
                try:
                    yield self._size
                finally:
                    self._writing = False

    def append(self, start: int, entries: Sequence[bytes], node_blobs: Sequence[bytes]) -> None:
        if len(entries) != len(node_blobs):
            raise InvalidInputError(
                f"node_blobs: expected one per entry ({len(entries)}), got {len(node_blobs)}"
            )
        if not entries:
            return
        with self.writing() as size:
            if start != size:
                raise IntegrityError(
                    f"append at wrong index: expected {size}, got {start} (another writer "
                    "appended: re-read the tip)"
                )
            rows = zip(range(start, start + len(entries)), entries, node_blobs, strict=True)
            self._insert_records(rows, len(entries))
            self._size = start + len(entries)

    def entries(self, start: int, end: int) -> list[bytes]:
        rows = self._query_all(
            "SELECT entry FROM records WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        )
        return [_blob(row[0]) for row in rows]

    def node_blobs(self, rows: Collection[int]) -> dict[int, bytes]:
        if not rows:
            return {}
        marks = ", ".join("?" * len(rows))
        found = self._query_all(
            f"SELECT idx, nodes FROM records WHERE idx IN ({marks})", list(rows)
        )
        return {idx: _blob(nodes) for idx, nodes in found}

    def scan(self, start: int = 0, chunk: int = 10_000) -> Iterator[tuple[int, bytes, bytes]]:
        while True:
            rows = self._query_all(
                "SELECT idx, entry, nodes FROM records WHERE idx >= ? ORDER BY idx LIMIT ?",
                (start, chunk),
            )
            for idx, entry, nodes in rows:
                yield idx, _blob(entry), _blob(nodes)
            if len(rows) < chunk:
                return
            start = rows[-1][0] + 1

    def add_head(self, head: SignedTreeHead) -> None:
        h = head.head
        self._insert(
            "INSERT INTO tree_heads (tree_size, log_id, root_hash, timestamp_ms, signature, "
            "key_epoch) VALUES (?, ?, ?, ?, ?, ?)",
            (h.tree_size, h.log_id, h.root_hash, h.timestamp, head.signature, h.key_epoch),
            f"a tree head of size {h.tree_size} is already stored",
        )

    def heads(self) -> list[SignedTreeHead]:
        rows = self._query_all(
            "SELECT log_id, tree_size, root_hash, timestamp_ms, signature, key_epoch "
            "FROM tree_heads ORDER BY tree_size"
        )
        return [
            SignedTreeHead(TreeHead(_blob(log_id), size, _blob(root), ts, epoch), _blob(signature))
            for log_id, size, root, ts, signature, epoch in rows
        ]

    def add_anchor(self, anchor: Anchor) -> None:
        self._insert(
            "INSERT INTO anchors (tree_size, chain_id, registry, head_index, tx_hash, "
            "block_number) VALUES (?, ?, ?, ?, ?, ?)",
            (
                anchor.tree_size,
                anchor.chain_id,
                anchor.registry,
                anchor.index,
                anchor.tx_hash,
                anchor.block_number,
            ),
            f"the head of size {anchor.tree_size} is already anchored",
        )

    def anchors(self) -> list[Anchor]:
        rows = self._query_all(
            "SELECT tree_size, chain_id, registry, head_index, tx_hash, block_number FROM anchors "
            "ORDER BY tree_size"
        )
        return [
            Anchor(size, chain_id, registry, index, _blob(tx_hash), block)
            for size, chain_id, registry, index, tx_hash, block in rows
        ]

    def get_meta(self, key: str) -> str | None:
        row = self._query_one("SELECT value FROM log_meta WHERE key = ?", (key,))
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self._insert(
            "INSERT INTO log_meta (key, value) VALUES (?, ?)",
            (key, value),
            f"log setting {key!r} is already set",
        )

    def _insert(self, sql: str, params: Sequence[Any], conflict: str) -> None:
        try:
            with self.writing():
                self._execute(self._sql(sql), params)
        except self._unique_violation:
            raise IntegrityError(conflict) from None


class SqliteStore(_SqlStore):
    """A log in one SQLite file (WAL journal, ``synchronous=FULL``: committed means on disk).

    Several stores, in this process or others, may write the same file: appends take
    SQLite's write lock (``BEGIN IMMEDIATE``) and wait up to ``busy_timeout`` seconds for it.
    """

    _unique_violation = (sqlite3.IntegrityError,)

    def __init__(
        self, path: str | Path, *, read_only: bool = False, busy_timeout: float = 30.0
    ) -> None:
        """Open the log file at ``path``, creating it (and its directory) if missing.

        Raises :class:`IntegrityError` naming the file when it exists but is not an
        intact SQLite database (truncated, overwritten): it is never silently replaced.
        ``read_only=True`` writes nothing (not even SQLite's -wal/-shm files when the log
        was closed cleanly), for a read-only copy of a data dir; appends then fail.
        """
        self.path = Path(path)
        self._file = SqliteFile(
            self.path,
            "log file",
            "restore it from a backup: its anchored heads on chain tell which records it must hold",
            field="database",
        )
        self.read_only = read_only
        self._conn = self._file.connect(read_only=read_only, busy_timeout=busy_timeout)
        try:
            with self._guard():
                if not read_only:
                    # page_size only takes effect on a new file: 16 KiB pages make appends
                    # ~10% faster; checkpointing every 4000 pages (64 MiB of WAL), ~7% more.
                    for pragma in (
                        "page_size = 16384",
                        "wal_autocheckpoint = 4000",
                        "recursive_triggers = ON",
                    ):
                        self._conn.execute(f"PRAGMA {pragma}")
                    if not self._has_schema():  # readers need not take the write lock
                        schema = _SCHEMA.format(int="INTEGER", blob="BLOB")
                        triggers = "".join(_SQLITE_TRIGGERS.format(table=t) for t in TABLES)
                        self._conn.executescript(f"BEGIN IMMEDIATE;{schema}{triggers}COMMIT;")
                super().__init__()
        except BaseException:
            self._conn.close()
            raise

    def _corrupted(self, reason: object) -> IntegrityError:
        return self._file.corrupted(reason)

    def _has_schema(self) -> bool:
        names = {
            row[0]
            for row in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')"
            )
        }
        wanted = {*TABLES} | {f"{t}_no_{op}" for t in TABLES for op in ("update", "delete")}
        return wanted <= names

    def _guard(self) -> contextlib.AbstractContextManager[None]:
        """Report a damaged file as an :class:`IntegrityError` naming it."""
        return self._file.guard()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._guard():
            return self._conn.execute(sql, params)

    def _query_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._guard():  # a damaged page may only show when rows are fetched
            return super()._query_one(sql, params)

    def _query_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._guard():
            return super()._query_all(sql, params)

    def _insert_records(self, rows: Iterator[tuple[int, bytes, bytes]], count: int) -> None:
        # Many rows per INSERT statement: a third fewer statement steps than one per row,
        # the largest single saving on the append path.
        per, rest = _ROWS_PER_INSERT, count % _ROWS_PER_INSERT
        values = itertools.chain.from_iterable(rows)
        if count >= per:
            full = itertools.islice(values, 3 * (count - rest))
            self._conn.executemany(_insert_sql(per), zip(*[full] * (3 * per), strict=False))
        if rest:
            self._conn.execute(_insert_sql(rest), list(values))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        if self.read_only:
            raise StorageError(
                f"log file {self.path} is open read-only: it cannot be written", field="path"
            )
        with self._guard():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresStore(_SqlStore):
    """A log in PostgreSQL tables, in ``schema`` (created if missing).

    Appends from several connections are serialised by an ``EXCLUSIVE`` lock on the
    records table (readers are not blocked), waited for up to ``lock_timeout`` seconds.
    A lost connection fails the call in progress with :class:`StorageError` (nothing of
    it is acknowledged) and is reopened by the next call.
    """

    _param = "%s"

    def __init__(
        self,
        url: str,
        *,
        schema: str = "public",
        read_only: bool = False,
        lock_timeout: float = 30.0,
    ) -> None:
        import psycopg

        if not schema.isidentifier():
            raise InvalidInputError(f"schema: expected an SQL identifier, got {schema!r}")
        self._psycopg = psycopg
        self._unique_violation = (psycopg.errors.UniqueViolation,)
        self._url = url
        self.schema = schema
        self.read_only = read_only
        self._lock_timeout_ms = int(lock_timeout * 1000)
        self._conn = self._connect()
        if read_only:
            found = self._conn.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name = 'records'",
                (schema,),
            ).fetchone()
            if found is None:
                self._conn.close()
                raise NotFoundError(
                    f"no log in PostgreSQL schema {schema!r} at the database_url",
                    field="database_url",
                )
        else:
            self._create_tables()
        super().__init__()

    def _connect(self) -> Any:
        from psycopg import sql

        psycopg = self._psycopg
        try:
            conn = psycopg.connect(self._url, autocommit=True)
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            if self.read_only:
                conn.execute("SET default_transaction_read_only = on")
        except psycopg.OperationalError as error:
            raise StorageError(
                f"database_url: cannot connect to PostgreSQL ({first_line(error)})",
                field="database_url",
            ) from None
        return conn

    def _create_tables(self) -> None:
        from psycopg import sql

        with self._conn.transaction():
            # Two processes creating the same schema at once would collide: one at a time.
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
            self._conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            for statement in _SCHEMA.format(int="BIGINT", blob="BYTEA").split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(_POSTGRES_TRIGGER_FUNCTION)
            for table in TABLES:
                self._conn.execute(_POSTGRES_TRIGGER.format(table=table))

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """A lost connection or a lock wait that timed out, as one clear StorageError."""
        errors = self._psycopg.errors
        try:
            yield
        except errors.LockNotAvailable:
            raise StorageError(
                f"log {self.schema}: another writer held its lock for more than "
                f"{self._lock_timeout_ms // 1000} s; retry later",
                field="database_url",
            ) from None
        except errors.ReadOnlySqlTransaction:
            raise StorageError(
                f"log {self.schema} is open read-only: it cannot be written", field="database_url"
            ) from None
        except self._psycopg.OperationalError as error:
            raise StorageError(
                f"log {self.schema}: lost the PostgreSQL connection ({first_line(error)}); "
                "nothing of this call was stored, retry it",
                field="database_url",
            ) from None

    def _live(self) -> Any:
        if self._conn.closed or self._conn.broken:
            self._conn.close()
            self._conn = self._connect()
        return self._conn

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._guard():
            return self._live().execute(sql, params)

    def _insert_records(self, rows: Iterator[tuple[int, bytes, bytes]], count: int) -> None:
        with self._guard(), self._conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO records (idx, entry, nodes) VALUES (%s, %s, %s)", list(rows)
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._guard(), self._live().transaction():
            yield

    def _lock_writers(self) -> None:
        self._execute(f"SET LOCAL lock_timeout = {self._lock_timeout_ms}")
        self._execute("LOCK TABLE records IN EXCLUSIVE MODE")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
