"""The record store, on SQLite and PostgreSQL alike: durable, append-only, checked."""

from __future__ import annotations

import sqlite3

import pytest

from ailedger.core.log import Anchor, SignedTreeHead, SqliteStore, TreeHead
from ailedger.errors import IntegrityError, InvalidInputError
from tests.core.log.dbaccess import raw_execute

HEAD = SignedTreeHead(TreeHead(b"\x01" * 32, 2, b"\x02" * 32, 1_700_000_000_000), b"\x03" * 65)
ANCHOR = Anchor(2, 31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3", 0, b"\x04" * 32, 7)


def test_new_store_is_empty(store):
    assert store.size() == 0
    assert store.heads() == []
    assert store.anchors() == []


def test_appended_entries_read_back_in_order(store):
    store.append(0, [b"a", b"b", b""], [b"n" * 32, b"m" * 64, b"o" * 32])
    assert store.size() == 3
    assert store.entries(0, 3) == [b"a", b"b", b""]
    assert store.node_blobs([1, 2]) == {1: b"m" * 64, 2: b"o" * 32}


def test_appends_survive_reopening(open_store):
    first = open_store()
    first.append(0, [b"a", b"b"], [b"n" * 32, b"m" * 64])
    first.close()
    again = open_store()
    assert again.size() == 2
    assert again.entries(0, 2) == [b"a", b"b"]


def test_append_at_wrong_index_is_rejected_and_stores_nothing(store):
    store.append(0, [b"a"], [b"n" * 32])
    with pytest.raises(IntegrityError, match="expected 1, got 0"):
        store.append(0, [b"b"], [b"m" * 32])
    assert store.entries(0, 5) == [b"a"]


def test_append_by_a_second_writer_is_rejected(open_store):
    first, second = open_store(), open_store()
    first.append(0, [b"a"], [b"n" * 32])
    with pytest.raises(IntegrityError, match="another writer"):
        second.append(0, [b"b"], [b"m" * 32])
    assert first.entries(0, 5) == [b"a"]


def test_append_needs_one_node_blob_per_entry(store):
    with pytest.raises(InvalidInputError, match=r"expected one per entry \(2\), got 1"):
        store.append(0, [b"a", b"b"], [b"n" * 32])
    assert store.size() == 0


def test_scan_yields_every_row_in_chunks(store):
    store.append(0, [bytes([i]) for i in range(5)], [bytes([i]) * 32 for i in range(5)])
    rows = list(store.scan(chunk=2))
    assert [index for index, _, _ in rows] == [0, 1, 2, 3, 4]
    assert rows[3] == (3, b"\x03", b"\x03" * 32)


def test_heads_and_anchors_round_trip(store):
    store.add_head(HEAD)
    store.add_anchor(ANCHOR)
    assert store.heads() == [HEAD]
    assert store.anchors() == [ANCHOR]


def test_second_head_of_the_same_size_is_rejected(store):
    store.add_head(HEAD)
    with pytest.raises(IntegrityError, match="size 2 is already stored"):
        store.add_head(HEAD)


def test_meta_can_be_set_once(store):
    store.set_meta("log_id", "0xab")
    with pytest.raises(IntegrityError, match="'log_id' is already set"):
        store.set_meta("log_id", "0xcd")
    assert store.get_meta("log_id") == "0xab"
    assert store.get_meta("missing") is None


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE records SET entry = ? WHERE idx = 0",
        "DELETE FROM records WHERE idx = 0",
    ],
)
def test_database_rejects_rewriting_records(store, sql):
    store.append(0, [b"a"], [b"n" * 32])
    params = (b"evil",) if sql.startswith("UPDATE") else ()
    with pytest.raises(Exception, match="append-only"):
        raw_execute(store, sql, params)
    assert store.entries(0, 1) == [b"a"]


@pytest.mark.parametrize("table", ["tree_heads", "anchors", "log_meta"])
def test_database_rejects_deleting_heads_anchors_and_meta(store, table):
    store.add_head(HEAD)
    store.add_anchor(ANCHOR)
    store.set_meta("log_id", "0xab")
    with pytest.raises(Exception, match="append-only"):
        raw_execute(store, f"DELETE FROM {table}")
    assert store.heads() == [HEAD]


def test_sqlite_insert_or_replace_cannot_overwrite_a_record(tmp_path):
    store = SqliteStore(tmp_path / "log.sqlite3")
    store.append(0, [b"a"], [b"n" * 32])
    with pytest.raises(Exception, match="append-only"):
        raw_execute(store, "INSERT OR REPLACE INTO records VALUES (0, x'00', x'00')")
    assert store.entries(0, 1) == [b"a"]
    store.close()


def _sqlite_log_with_records(path, count: int = 2000) -> bytes:
    """A closed SQLite log of ``count`` records spread over many pages; its file's bytes."""
    store = SqliteStore(path)
    store.append(0, [b"r" * 200] * count, [b"n" * 32] * count)
    store.close()
    return path.read_bytes()


@pytest.mark.parametrize("keep", [0, 100], ids=["emptied", "header-cut"])
def test_sqlite_log_without_a_valid_header_is_refused_not_reset(tmp_path, keep):
    path = tmp_path / "log.sqlite3"
    path.write_bytes(_sqlite_log_with_records(path)[:keep])
    with pytest.raises(IntegrityError, match=r"log file .*log\.sqlite3 is corrupted or truncated"):
        SqliteStore(path)
    assert path.stat().st_size == keep  # not replaced by a fresh, empty log


def test_truncated_sqlite_log_is_an_integrity_error_naming_the_file(tmp_path):
    path = tmp_path / "log.sqlite3"
    whole = _sqlite_log_with_records(path)
    path.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(IntegrityError, match="malformed") as caught:
        store = SqliteStore(path)
        list(store.scan())
    assert str(path) in caught.value.message
    assert caught.value.field == "database"


def test_store_made_before_key_epochs_opens_with_its_heads_at_epoch_zero(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE tree_heads (tree_size INTEGER PRIMARY KEY, log_id BLOB NOT NULL, "
        "root_hash BLOB NOT NULL, timestamp_ms INTEGER NOT NULL, signature BLOB NOT NULL);"
    )
    conn.execute(
        "INSERT INTO tree_heads VALUES (1, ?, ?, 5, ?)", (b"\1" * 32, b"\2" * 32, b"\3" * 65)
    )
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    (signed,) = store.heads()
    assert (signed.head.tree_size, signed.head.key_epoch) == (1, 0)
    store.add_head(SignedTreeHead(TreeHead(b"\1" * 32, 2, b"\2" * 32, 6, 3), b"\3" * 65))
    assert store.heads()[1].head.key_epoch == 3
    store.close()
