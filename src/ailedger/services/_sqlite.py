"""The SQLite files of services (a host's vouchers, a consumer's records): one way to open
them and one way to write to them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ailedger.errors import InvalidInputError

SYNCHRONOUS_MODES = ("FULL", "NORMAL", "EXTRA")


def open_sqlite(path: Path, schema: str, *, synchronous: str) -> sqlite3.Connection:
    """``path`` (directories made private) in WAL mode, autocommit, shared across threads;
    ``schema`` applied. Transactions are opened explicitly with :func:`immediate`."""
    if synchronous not in SYNCHRONOUS_MODES:
        raise InvalidInputError(
            f"synchronous: expected FULL, NORMAL or EXTRA, got {synchronous!r}",
            field="synchronous",
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA busy_timeout=10000")
    db.executescript(schema)
    return db


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, ``ROLLBACK`` on any exception: a write lock
    from the start, so a read-then-write is atomic across processes too."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
