"""Faults under the data dir's SQLite files: a full disk, a lost PostgreSQL connection.

Each failure is one clear :class:`StorageError` line naming the file, nothing that was
acknowledged is lost, and the log still verifies afterwards.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ailedger.core.log import PostgresStore, SqliteStore, TransparencyLog, verify_log
from ailedger.core.storage.sqlite import SqliteFile
from ailedger.errors import IntegrityError, StorageError
from tests.conftest import require_service

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
RECORD = b"x" * 4000


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs (we run as root in CI; elsewhere the test is skipped)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_full_disk_fails_the_append_in_one_line_and_loses_nothing_acknowledged(tiny_disk):
    path = tiny_disk / "log.sqlite3"
    log = TransparencyLog(SqliteStore(path))
    acknowledged = []
    with pytest.raises(StorageError) as caught:
        for i in range(1000):
            acknowledged.append(log.append(RECORD + str(i).encode()).index)
    message = caught.value.message
    assert str(path) in message and "\n" not in message
    assert "full" in message or "disk I/O" in message
    assert acknowledged == list(range(len(acknowledged))) and acknowledged
    log.close()

    reopened = SqliteStore(path, read_only=True)
    assert reopened.size() == len(acknowledged)
    assert verify_log(reopened).records == len(acknowledged)
    reopened.close()


@pytest.fixture
def postgres_store():
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"test_drop_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(POSTGRES_URL, schema=schema)
    yield store
    store.close()
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _terminate_backends_of(schema: str) -> int:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND datname = 'test' AND application_name = %s",
            (schema,),
        ).fetchall()
    return len(rows)


def test_lost_postgres_connection_fails_one_call_then_reconnects(postgres_store):
    log = TransparencyLog(postgres_store)
    log.append_many([b"a", b"b"])
    postgres_store._execute(f"SET application_name = {_quote(postgres_store.schema)}")
    assert _terminate_backends_of(postgres_store.schema) == 1
    with pytest.raises(StorageError, match="lost the PostgreSQL connection") as caught:
        log.append(b"c")
    assert "\n" not in caught.value.message
    assert log.append(b"d").index == 2  # reconnected; "c" was never acknowledged
    assert postgres_store.entries(0, 3) == [b"a", b"b", b"d"]
    assert verify_log(postgres_store).records == 3


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(min_size=0, max_size=3000))
def test_a_file_that_is_not_a_database_is_refused_and_left_as_it_was(tmp_path_factory, content):
    """Empty, truncated or overwritten: never silently started afresh as an empty database."""
    assume(not content.startswith(b"SQLite format 3\x00"))
    path = tmp_path_factory.mktemp("bad") / "file.sqlite3"
    path.write_bytes(content)
    with pytest.raises(IntegrityError) as caught:
        SqliteFile(path, "test file").connect()
    assert str(path) in caught.value.message and "\n" not in caught.value.message
    assert path.read_bytes() == content
    assert not Path(f"{path}-wal").exists()
