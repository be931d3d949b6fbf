"""Opening the data dir's SQLite files without breaking SQLite's locks or durability.

Every SQLite file of a data dir (logs, the chain, the decision index, the catalog, the
voucher stores) is opened here, so that the rules hold everywhere:

- Nothing but SQLite opens a database file. POSIX record locks belong to the process,
  and closing ANY descriptor of the file drops all of them (SQLite's "How To Corrupt An
  SQLite Database File", 2.2): another process may then checkpoint and delete the WAL
  while this one keeps committing into the deleted file. A truncated (empty) file is
  found with ``stat``; a bad header is reported by SQLite itself.
- WAL journal, and ``synchronous`` chosen by the caller to match what its "committed"
  promises (``FULL``: on disk; ``NORMAL``: survives a killed process).
- A busy timeout, so that writers from several processes wait for each other, and a
  clear :class:`StorageError` when the wait is too long.
- ``read_only=True`` changes no data: the file is opened with ``mode=ro``; on a copy
  nobody can write (no WAL file, directory not writable, as an auditor holds it) also
  ``immutable=1``, so SQLite writes nothing at all there. In a live data dir a reader
  must see other processes' commits, so it may create SQLite's empty ``-wal``/``-shm``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from ailedger.errors import IntegrityError, NotFoundError, StorageError

__all__ = ["SqliteFile", "first_line"]

_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")
_SMALLEST_PAGE = 512


class SqliteFile:
    """Where one SQLite file is and what it holds, to open it and name it in errors.

    ``what`` names the file for a person ("log file", "decision index"); ``remedy``
    says what to do when it is damaged.
    """

    def __init__(
        self,
        path: Path | str,
        what: str,
        remedy: str = "restore it from a backup",
        *,
        field: str = "path",
    ) -> None:
        self.path = Path(path)
        self.what = what
        self.remedy = remedy
        self.field = field

    def connect(
        self,
        *,
        read_only: bool = False,
        synchronous: str = "FULL",
        busy_timeout: float = 30.0,
        refuse_empty: bool = True,
        isolation_level: str | None = None,
    ) -> sqlite3.Connection:
        """A connection, in autocommit mode by default (callers issue ``BEGIN``/``COMMIT``;
        pass ``isolation_level="IMMEDIATE"`` to have the driver begin before each write).

        ``refuse_empty``: an existing empty file is a truncated database (SQLite would
        silently start a fresh, empty one in it). Raises :class:`IntegrityError` for a
        damaged file, :class:`NotFoundError` for a missing one in read-only mode and
        :class:`StorageError` when it cannot be opened (permissions, disk).
        """
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}, got {synchronous!r}")
        path = self.path
        exists = path.exists()
        if read_only and not exists:
            raise NotFoundError(f"{self.what} {path} does not exist", field=self.field)
        if exists and not _has_wal(path):
            size = path.stat().st_size
            # SQLite takes any file shorter than its smallest page for a new, empty database.
            if (size == 0 and refuse_empty) or 0 < size < _SMALLEST_PAGE:
                raise self.corrupted(f"the file has {size} bytes, less than one page")
        if not read_only:
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as error:
                raise self.unavailable(error) from None
        target, uri = (_read_only_uri(path), True) if read_only else (str(path), False)
        try:
            conn = sqlite3.connect(
                target,
                uri=uri,
                timeout=busy_timeout,
                isolation_level=isolation_level,
                check_same_thread=False,
            )
        except sqlite3.Error as error:
            raise self.unavailable(error) from None
        try:
            with self.guard():
                if not read_only:
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
                # Reads the header: a file that is not a database fails here, by name.
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Turn SQLite's errors into :mod:`ailedger.errors` that name this file."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            # The base class alone means a damaged file ("database disk image is
            # malformed", "file is not a database"); constraint violations are subclasses
            # that callers handle themselves.
            if type(error) is sqlite3.DatabaseError:
                raise self.corrupted(error) from None
            if type(error) is sqlite3.OperationalError:
                raise self.unavailable(error) from None
            raise

    def corrupted(self, reason: object) -> IntegrityError:
        """The error for a damaged file: one line naming it."""
        return IntegrityError(
            f"{self.what} {self.path} is corrupted or truncated ({first_line(reason)}); "
            f"{self.remedy}",
            field=self.field,
        )

    def unavailable(self, reason: object) -> StorageError:
        """The error for a file that cannot be read or written right now."""
        text = first_line(reason)
        hint = {
            "database is locked": "another process holds its write lock; retry later",
            "database or disk is full": "free some disk space",
            "attempt to write a readonly database": "the data dir is read-only",
            "unable to open database file": "check that the file and its folder are readable "
            "(and writable, to write)",
            "disk I/O error": "the disk failed or is full",
        }.get(text.lower())
        return StorageError(
            f"{self.what} {self.path}: {text}" + (f" ({hint})" if hint else ""), field=self.field
        )


def _has_wal(path: Path) -> bool:
    wal = Path(f"{path}-wal")
    return wal.exists() and wal.stat().st_size > 0


def _read_only_uri(path: Path) -> str:
    # immutable=1 only for a copy nobody can write (no WAL, directory not writable): SQLite
    # then creates no -wal/-shm files and takes no locks. Where another process may still
    # write (a live data dir), an immutable reader would keep the view it opened with
    # and, say, miss an anchor that the log it reads next already records.
    frozen = not _has_wal(path) and not os.access(path.parent, os.W_OK)
    flags = "mode=ro&immutable=1" if frozen else "mode=ro"
    return f"file:{quote(str(path.resolve()))}?{flags}"


def first_line(reason: object) -> str:
    """The first line of an error's text (drivers add multi-line detail)."""
    text = str(reason).strip()
    return text.splitlines()[0] if text else type(reason).__name__
