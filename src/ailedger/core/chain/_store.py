"""The embedded chain's SQLite file: py-evm's key-value data plus index tables.

Everything a mined block changes -- trie nodes, headers, bodies, the canonical
head, and our own ``blocks``/``txs``/``logs`` index rows -- is written in ONE
SQLite transaction. py-evm's writes are buffered in memory by
:class:`SqliteAtomicDB` while a block is being built and flushed by
:meth:`ChainStore.commit_block`; a block that is abandoned (a reverting
transaction) is dropped with :meth:`ChainStore.rollback` and nothing reaches
the file.

Durability: the file is in WAL mode with ``synchronous=NORMAL`` by default. A
transaction that ``COMMIT`` returned for is in the WAL file, which the OS holds
even if this process is killed with SIGKILL the next instant, so "acknowledged"
(the transaction hash was returned to the caller) means "committed" for every
process crash. Only an OS crash or power loss can drop the last few commits
(the database stays consistent: WAL frames are checksummed). Pass
``synchronous="FULL"`` to fsync the WAL on every commit and survive power loss
too, at the cost of one fsync per block.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from eth.abc import AtomicWriteBatchAPI
from eth.db.atomic import AtomicDBWriteBatch
from eth.db.backends.base import BaseAtomicDB

from ailedger.core.storage.sqlite import SqliteFile
from ailedger.errors import ChainError, IntegrityError, StorageError

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    timestamp INTEGER NOT NULL,
    tx_hashes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS txs (
    hash BLOB PRIMARY KEY,
    block INTEGER NOT NULL,
    tx_index INTEGER NOT NULL,
    status INTEGER NOT NULL,
    gas_used INTEGER NOT NULL,
    contract_address BLOB
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    block INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    tx_hash BLOB NOT NULL,
    address BLOB NOT NULL,
    topic0 BLOB, topic1 BLOB, topic2 BLOB, topic3 BLOB,
    data BLOB NOT NULL,
    PRIMARY KEY (block, log_index)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS logs_by_address ON logs (address, block);
CREATE INDEX IF NOT EXISTS logs_by_topic0 ON logs (topic0, block);
"""

_DELETED = None  # marker in the pending-writes buffer

BlockRow = tuple[int, bytes, int, bytes]  # number, hash, timestamp, concatenated tx hashes
TxRow = tuple[bytes, int, int, int, int, bytes | None]
LogRow = tuple[
    int, int, bytes, bytes, bytes | None, bytes | None, bytes | None, bytes | None, bytes
]


class SqliteAtomicDB(BaseAtomicDB):
    """py-evm's key-value database on the ``kv`` table, writes buffered until commit.

    Reads see the buffer first, then a cache of content-addressed entries, then
    SQLite. Keys of exactly 32 bytes are hashes of their values (trie nodes,
    code, headers, bodies), so they never change and are safe to cache forever
    even while another process appends blocks; other keys (the canonical head,
    number-to-hash lookups) are always read from SQLite.
    """

    _CACHE_LIMIT = 200_000

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._pending: dict[bytes, bytes | None] = {}
        self._cache: dict[bytes, bytes] = {}

    def __getitem__(self, key: bytes) -> bytes:
        pending = self._pending
        if key in pending:
            value = pending[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        value = row[0]
        if len(key) == 32:
            if len(self._cache) >= self._CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = value
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._pending[key] = _DELETED

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        # py-evm's batches land in our buffer, which is itself committed atomically.
        with AtomicDBWriteBatch._commit_unless_raises(self) as batch:
            yield batch

    def has_pending(self) -> bool:
        return bool(self._pending)

    def discard_pending(self) -> None:
        self._pending.clear()

    def flush_pending(self) -> None:
        """Write the buffer into the open SQLite transaction (the caller commits).

        The buffer is kept until :meth:`committed` or :meth:`discard_pending`, so a
        failed COMMIT leaves neither the file nor the cache with the block's data.
        """
        pending = self._pending.items()
        writes = [(k, v) for k, v in pending if v is not _DELETED]
        deletes = [(k,) for k, v in pending if v is _DELETED]
        if writes:
            self._conn.executemany("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", writes)
        if deletes:
            self._conn.executemany("DELETE FROM kv WHERE key = ?", deletes)

    def committed(self) -> None:
        """The flushed buffer is in the file now: move content-addressed entries to the cache."""
        cache = self._cache
        if len(cache) + len(self._pending) > self._CACHE_LIMIT:
            cache.clear()
        for key, value in self._pending.items():
            if len(key) == 32:
                if value is _DELETED:
                    cache.pop(key, None)
                else:
                    cache[key] = value
        self._pending.clear()


class ChainStore:
    """The SQLite file of one embedded chain: open, verify, and commit blocks atomically."""

    FILE_NAME = "chain.sqlite3"

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "NORMAL",
        busy_timeout: float = 30.0,
        read_only: bool = False,
    ):
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self.path = path
        self.read_only = read_only
        self._file = SqliteFile(
            path,
            "chain data file",
            "refusing to open it. Restore it from a backup or move it away to start a new chain",
            field="chain_dir",
        )
        self._synchronous = synchronous.upper()
        self._busy_timeout = busy_timeout
        self.conn = self._connect(path)
        self.kv = SqliteAtomicDB(self.conn)
        self._in_block = False

    # -- opening ---------------------------------------------------------------

    def _connect(self, path: Path) -> sqlite3.Connection:
        # Never open the file other than through SQLite (see core/storage/sqlite.py): an
        # empty (truncated) file is refused there, a bad header reported by SQLite.
        conn = self._file.connect(
            read_only=self.read_only,
            synchronous=self._synchronous,
            busy_timeout=self._busy_timeout,
        )
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
        return conn

    def corrupted(self, exc: BaseException | str) -> IntegrityError:
        """One line naming the file (never SQLite's whole report)."""
        return self._file.corrupted(exc)

    def unavailable(self, exc: BaseException | str) -> StorageError:
        """One line naming the file for a failure to read or write it (disk, locks)."""
        return self._file.unavailable(exc)

    def create_schema(self) -> None:
        self.conn.executescript(_SCHEMA)

    def quick_check(self) -> None:
        """Run SQLite's structural check; raise ``IntegrityError`` naming the file."""
        try:
            rows = self.conn.execute("PRAGMA quick_check").fetchall()
            tables = {
                r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as exc:
            raise self.corrupted(exc) from exc
        if rows != [("ok",)]:
            problems = "problem" if len(rows) == 1 else "problems"
            raise self.corrupted(f"quick_check found {len(rows)} {problems}, first: {rows[0][0]}")
        missing = {"kv", "meta", "blocks", "txs", "logs"} - tables
        if missing:
            raise self.corrupted(f"missing tables {sorted(missing)}")

    # -- meta ------------------------------------------------------------------

    def get_meta(self, name: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, name: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one state of the file, whatever other processes commit."""
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    # -- block transactions ----------------------------------------------------

    def begin_block(self) -> None:
        """Take the write lock: the head read after this is the one we build on."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise ChainError(
                f"chain data file {self.path} is locked by another process ({exc})",
                field="chain_dir",
            ) from exc
        self._in_block = True

    def commit_block(self, block: BlockRow, txs: Sequence[TxRow], logs: Sequence[LogRow]) -> None:
        """Flush py-evm's buffered writes and the index rows, then COMMIT once."""
        conn = self.conn
        try:
            self.kv.flush_pending()
            conn.execute(
                "INSERT INTO blocks (number, hash, timestamp, tx_hashes) VALUES (?, ?, ?, ?)", block
            )
            if txs:
                conn.executemany("INSERT INTO txs VALUES (?, ?, ?, ?, ?, ?)", txs)
            if logs:
                conn.executemany("INSERT INTO logs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", logs)
            conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise
        self.kv.committed()
        self._in_block = False

    def rollback(self) -> None:
        """Abandon the block being built: nothing of it reaches the file."""
        self.kv.discard_pending()
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self._in_block = False

    # -- index queries -----------------------------------------------------------

    def head_number(self) -> int:
        row = self.conn.execute("SELECT MAX(number) FROM blocks").fetchone()
        return -1 if row[0] is None else row[0]

    def block_row(self, number: int) -> BlockRow | None:
        return self.conn.execute(
            "SELECT number, hash, timestamp, tx_hashes FROM blocks WHERE number = ?", (number,)
        ).fetchone()

    def tx_row(self, tx_hash: bytes) -> TxRow | None:
        return self.conn.execute("SELECT * FROM txs WHERE hash = ?", (tx_hash,)).fetchone()

    def logs_of_block(self, number: int) -> list[LogRow]:
        return self.conn.execute(
            "SELECT * FROM logs WHERE block = ? ORDER BY log_index", (number,)
        ).fetchall()

    def query_logs(
        self,
        addresses: Sequence[bytes] | None,
        topics: Sequence[Sequence[bytes] | None],
        from_block: int,
        to_block: int,
    ) -> list[LogRow]:
        where = ["block BETWEEN ? AND ?"]
        params: list[object] = [from_block, to_block]
        if addresses is not None:
            where.append(f"address IN ({','.join('?' * len(addresses))})")
            params.extend(addresses)
        for position, options in enumerate(topics):
            if options is None:
                continue
            where.append(f"topic{position} IN ({','.join('?' * len(options))})")
            params.extend(options)
        sql = f"SELECT * FROM logs WHERE {' AND '.join(where)} ORDER BY block, log_index"
        return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        if self._in_block:
            self.rollback()
        self.conn.close()


def create_file_atomically(path: Path, initialise: object) -> None:
    """Build a new chain file under a temporary name and link it into place.

    A crash while creating leaves only the temporary file behind, never a
    half-initialised ``chain.sqlite3`` that a later open would have to guess about:
    an existing file is always a chain we committed (or a damaged one, refused).
    """
    tmp = path.with_name(f"{path.name}.init-{os.getpid()}")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    initialise(tmp)  # type: ignore[operator]
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    # link() never replaces: if another process created the chain meanwhile, theirs wins
    # and ours is dropped, so nobody ends up with a connection to an unlinked file.
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
