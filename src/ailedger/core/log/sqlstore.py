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
from ailedger.errors import IntegrityError, InvalidInputError

TABLES = ("records", "tree_heads", "anchors", "log_meta")
_SQLITE_MAGIC = b"SQLite format 3\x00"
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
        self._add_key_epoch_column()
        self._size = self._query_one("SELECT COALESCE(MAX(idx) + 1, 0) FROM records")[0]

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

    def _sql(self, sql: str) -> str:
        return sql if self._param == "?" else sql.replace("?", self._param)

    def _query_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            return self._execute(self._sql(sql), params).fetchone()

    def _query_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._execute(self._sql(sql), params).fetchall()

    # LogStore.
    def size(self) -> int:
        return self._size

    def append(self, start: int, entries: Sequence[bytes], node_blobs: Sequence[bytes]) -> None:
        if len(entries) != len(node_blobs):
            raise InvalidInputError(
                f"node_blobs: expected one per entry ({len(entries)}), got {len(node_blobs)}"
            )
        if not entries:
            return
        with self._lock:
            if start != self._size:
                raise IntegrityError(f"append at wrong index: expected {self._size}, got {start}")
            try:
                with self._transaction():
                    rows = zip(range(start, start + len(entries)), entries, node_blobs, strict=True)
                    self._insert_records(rows, len(entries))
            except self._unique_violation as error:
                raise IntegrityError(
                    f"records from index {start} already exist: another writer appended ({error})"
                ) from None
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
        with self._lock:
            try:
                with self._transaction():
                    self._execute(self._sql(sql), params)
            except self._unique_violation:
                raise IntegrityError(conflict) from None


class SqliteStore(_SqlStore):
    """A log in one SQLite file (WAL journal, ``synchronous=FULL``: committed means on disk)."""

    _unique_violation = (sqlite3.IntegrityError,)

    def __init__(self, path: str | Path) -> None:
        """Open the log file at ``path``, creating it (and its directory) if missing.

        Raises :class:`IntegrityError` naming the file when it exists but is not an
        intact SQLite database (truncated, overwritten): it is never silently replaced.
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            # SQLite would turn an empty (truncated) file into a fresh, empty log.
            with self.path.open("rb") as handle:
                if handle.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                    raise self._corrupted("not an SQLite database: bad or missing header")
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per append.
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            with self._guard():
                # page_size only takes effect on a new file: 16 KiB pages make appends ~10%
                # faster; checkpointing every 4000 pages (64 MiB of WAL) not 1000, ~7% more.
                pragmas = ("page_size = 16384", "journal_mode = WAL", "synchronous = FULL")
                for pragma in (*pragmas, "wal_autocheckpoint = 4000", "recursive_triggers = ON"):
                    self._conn.execute(f"PRAGMA {pragma}")
                schema = _SCHEMA.format(int="INTEGER", blob="BLOB")
                triggers = "".join(_SQLITE_TRIGGERS.format(table=table) for table in TABLES)
                self._conn.executescript(f"BEGIN IMMEDIATE;{schema}{triggers}COMMIT;")
                super().__init__()
        except IntegrityError:
            self._conn.close()
            raise

    def _corrupted(self, reason: object) -> IntegrityError:
        return IntegrityError(
            f"log file {self.path} is corrupted or truncated ({reason}); restore it from a "
            "backup: its anchored heads on chain tell which records it must hold",
            field="database",
        )

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Report a damaged file as an :class:`IntegrityError` naming it."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            # Only the base class means a damaged file ("database disk image is malformed",
            # "file is not a database"); subclasses (constraint violations, locking) do not.
            if type(error) is sqlite3.DatabaseError:
                raise self._corrupted(error) from None
            raise

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
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresStore(_SqlStore):
    """A log in PostgreSQL tables, in ``schema`` (created if missing)."""

    _param = "%s"

    def __init__(self, url: str, *, schema: str = "public") -> None:
        import psycopg
        from psycopg import sql

        if not schema.isidentifier():
            raise InvalidInputError(f"schema: expected an SQL identifier, got {schema!r}")
        self._unique_violation = (psycopg.errors.UniqueViolation,)
        try:
            self._conn = psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as error:
            raise InvalidInputError(
                f"database_url: cannot connect to PostgreSQL ({error})", field="database_url"
            ) from None
        with self._conn.transaction():
            self._conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
            self._conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            for statement in _SCHEMA.format(int="BIGINT", blob="BYTEA").split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(_POSTGRES_TRIGGER_FUNCTION)
            for table in TABLES:
                self._conn.execute(_POSTGRES_TRIGGER.format(table=table))
        super().__init__()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql, params)

    def _insert_records(self, rows: Iterator[tuple[int, bytes, bytes]], count: int) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO records (idx, entry, nodes) VALUES (%s, %s, %s)", list(rows)
            )

    def _transaction(self) -> contextlib.AbstractContextManager[Any]:
        return self._conn.transaction()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
