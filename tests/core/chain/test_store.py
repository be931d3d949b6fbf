"""The embedded chain's SQLite store: buffered py-evm writes, one commit per block."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ailedger.core.chain._store import ChainStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChainStore]:
    instance = ChainStore(tmp_path / "chain.sqlite3")
    instance.create_schema()
    yield instance
    instance.close()


def _other_reader(store: ChainStore) -> ChainStore:
    return ChainStore(store.path)


KEY, VALUE = b"k" * 32, b"value"


def test_buffered_write_is_readable_but_not_in_the_file(store: ChainStore) -> None:
    store.begin_block()
    store.kv[KEY] = VALUE
    assert store.kv[KEY] == VALUE
    other = _other_reader(store)
    try:
        assert not other.kv.exists(KEY)
    finally:
        other.close()


def test_commit_writes_state_and_index_rows_together(store: ChainStore) -> None:
    store.begin_block()
    store.kv[KEY] = VALUE
    store.commit_block((1, b"h" * 32, 100, b"t" * 32), [], [])
    other = _other_reader(store)
    try:
        assert other.kv[KEY] == VALUE
        assert other.head_number() == 1
    finally:
        other.close()


def test_rollback_discards_buffered_writes(store: ChainStore) -> None:
    store.begin_block()
    store.kv[KEY] = VALUE
    store.rollback()
    assert not store.kv.exists(KEY)
    assert store.head_number() == -1


def test_failed_commit_leaves_nothing_behind(store: ChainStore) -> None:
    store.begin_block()
    store.kv[KEY] = VALUE
    store.commit_block((1, b"h" * 32, 100, b""), [], [])
    store.begin_block()
    store.kv[b"x" * 32] = VALUE
    with pytest.raises(Exception, match="UNIQUE"):
        store.commit_block((1, b"h" * 32, 100, b""), [], [])  # block 1 again
    assert not store.kv.exists(b"x" * 32)
    assert store.head_number() == 1


def test_deleted_key_reads_as_missing(store: ChainStore) -> None:
    store.begin_block()
    store.kv[KEY] = VALUE
    store.commit_block((1, b"h" * 32, 100, b""), [], [])
    store.begin_block()
    del store.kv[KEY]
    with pytest.raises(KeyError):
        store.kv[KEY]
    store.commit_block((2, b"i" * 32, 101, b""), [], [])
    assert not store.kv.exists(KEY)


def test_atomic_batch_lands_in_the_block_buffer(store: ChainStore) -> None:
    store.begin_block()
    with store.kv.atomic_batch() as batch:
        batch[KEY] = VALUE
    assert store.kv.has_pending()
    store.rollback()
    assert not store.kv.exists(KEY)


def test_invalid_synchronous_mode_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="OFF"):
        ChainStore(tmp_path / "x.sqlite3", synchronous="OFF")
