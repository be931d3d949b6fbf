"""The SQLite files of services (a host's vouchers, a consumer's records): one way to open
them and one way to write to them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ailedger.core.storage.sqlite import SqliteFile
from ailedger.errors import InvalidInputError

SYNCHRONOUS_MODES = ("FULL", "NORMAL", "EXTRA")


def open_sqlite(
    path: Path, schema: str, *, synchronous: str, what: str, remedy: str
) -> sqlite3.Connection:
    """``path`` (through :class:`SqliteFile`: never opened outside SQLite, damage named in
    one line) in WAL mode, autocommit, shared across threads; ``schema`` applied.
    Transactions are opened explicitly with :func:`immediate`."""
    if synchronous not in SYNCHRONOUS_MODES:
        raise InvalidInputError(
            f"synchronous: expected FULL, NORMAL or EXTRA, got {synchronous!r}",
            field="synchronous",
        )
    file = SqliteFile(path, what, remedy)
    db = file.connect(synchronous=synchronous, busy_timeout=10.0)
    with file.guard():
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
