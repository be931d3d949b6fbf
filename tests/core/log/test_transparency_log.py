"""TransparencyLog: appends, roots and proofs agree with RFC 9162, on every backend."""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger.core.log import (
    EMPTY_ROOT,
    MAX_RECORD_BYTES,
    BatchPolicy,
    ConsistencyProof,
    InclusionProof,
    PostgresStore,
    SqliteStore,
    TransparencyLog,
    hash_leaf,
    merkle,
    open_store,
)
from ailedger.errors import InvalidInputError, NotFoundError, StorageError

ENTRIES = [f"record {i}".encode() for i in range(21)]


@pytest.fixture
def log(store) -> TransparencyLog:
    return TransparencyLog(store)


@pytest.fixture
def full_log(log) -> TransparencyLog:
    log.append_many(ENTRIES)
    return log


def _rfc_subtree_hash(entries):
    return functools.cache(lambda start, end: merkle.mth(entries[start:end]))


def test_append_returns_index_and_rfc_leaf_hash(log):
    first, second = log.append(b"a"), log.append(b"b")
    assert (first.index, second.index) == (0, 1)
    assert second.leaf_hash == hash_leaf(b"b")
    assert log.leaf_hash(1) == hash_leaf(b"b")


def test_append_many_returns_consecutive_refs(log):
    log.append(b"first")
    refs = log.append_many([b"x", b"y"])
    assert [r.index for r in refs] == [1, 2]
    assert log.size == 3


def test_record_reads_back_exactly(full_log):
    assert full_log.record(7) == b"record 7"


def test_empty_log_has_the_empty_root(log):
    assert log.size == 0
    assert log.root() == EMPTY_ROOT


def test_root_at_every_size_matches_rfc_tree_hash(full_log):
    for size in range(len(ENTRIES) + 1):
        assert full_log.root(size) == merkle.mth(ENTRIES[:size])


def test_inclusion_proofs_match_rfc_paths_at_every_size(full_log):
    subtree_hash = _rfc_subtree_hash(ENTRIES)
    for size in range(1, len(ENTRIES) + 1):
        for index in range(size):
            proof = full_log.inclusion_proof(index, size)
            assert list(proof.hashes) == merkle.inclusion_proof(index, size, subtree_hash)


def test_consistency_proofs_match_rfc_proofs_for_every_pair(full_log):
    subtree_hash = _rfc_subtree_hash(ENTRIES)
    for new in range(len(ENTRIES) + 1):
        for old in range(new + 1):
            proof = full_log.consistency_proof(old, new)
            assert list(proof.hashes) == merkle.consistency_proof(old, new, subtree_hash)


def test_inclusion_proof_verifies_against_current_root(full_log):
    proof = full_log.inclusion_proof(13)
    assert (proof.leaf_index, proof.tree_size) == (13, len(ENTRIES))
    proof.verify(hash_leaf(ENTRIES[13]), full_log.root())


def test_consistency_proof_verifies_between_roots(full_log):
    proof = full_log.consistency_proof(6)
    proof.verify(full_log.root(6), full_log.root())


def test_inclusion_proof_for_another_record_fails(full_log):
    with pytest.raises(merkle.InclusionProofError):
        full_log.inclusion_proof(13).verify(hash_leaf(ENTRIES[12]), full_log.root())


def test_proofs_round_trip_through_json_dicts(full_log):
    inclusion = full_log.inclusion_proof(3, 9)
    consistency = full_log.consistency_proof(4, 9)
    assert InclusionProof.from_dict(inclusion.to_dict()) == inclusion
    assert ConsistencyProof.from_dict(consistency.to_dict()) == consistency


def test_proof_from_malformed_dict_names_the_field():
    with pytest.raises(InvalidInputError, match=r"hashes\[0\]: expected 0x-prefixed hex"):
        InclusionProof.from_dict({"leaf_index": 0, "tree_size": 2, "hashes": ["zz"]})
    with pytest.raises(InvalidInputError, match="tree_size: expected a non-negative integer"):
        InclusionProof.from_dict({"leaf_index": 0, "tree_size": -1, "hashes": []})


def test_reopened_log_continues_the_same_tree(open_store):
    first = TransparencyLog(open_store())
    first.append_many(ENTRIES[:11])
    first.close()
    again = TransparencyLog(open_store())
    assert again.size == 11
    assert again.root() == merkle.mth(ENTRIES[:11])
    again.append_many(ENTRIES[11:])
    assert again.root() == merkle.mth(ENTRIES)


def test_record_that_is_not_bytes_is_rejected_and_nothing_stored(log):
    with pytest.raises(InvalidInputError, match="record 1: expected bytes, got str"):
        log.append_many([b"ok", "not bytes"])
    assert log.size == 0
    assert log.store.size() == 0


def test_record_above_size_limit_is_rejected(log):
    with pytest.raises(InvalidInputError, match=f"expected at most {MAX_RECORD_BYTES} bytes"):
        log.append(b"x" * (MAX_RECORD_BYTES + 1))
    assert log.size == 0


def test_reading_a_record_past_the_end_is_not_found(full_log):
    with pytest.raises(NotFoundError, match="record 21 does not exist: expected index < 21"):
        full_log.record(21)


def test_negative_index_is_invalid(full_log):
    with pytest.raises(InvalidInputError, match="index: expected a non-negative integer"):
        full_log.inclusion_proof(-1)


def test_proof_for_a_tree_larger_than_the_log_is_rejected(full_log):
    with pytest.raises(InvalidInputError, match=r"expected an integer in \[0, 21\], got 22"):
        full_log.inclusion_proof(0, 22)


def test_consistency_proof_with_old_size_above_new_is_rejected(full_log):
    with pytest.raises(InvalidInputError, match="expected 0 <= old <= 5, got 6"):
        full_log.consistency_proof(6, 5)


def test_second_writer_appends_after_records_another_writer_appended(tmp_path):
    # Issue 11 item 6: the second writer used to fail every append until reopened.
    ours = TransparencyLog(SqliteStore(tmp_path / "log.sqlite3"))
    theirs = TransparencyLog(SqliteStore(tmp_path / "log.sqlite3"))
    theirs.append(b"0")  # theirs has read its (empty) tip
    ours.append(b"a")
    refs = theirs.append_many([b"b", b"c"])
    assert [ref.index for ref in refs] == [2, 3]
    assert ours.append(b"d").index == 4
    reference = TransparencyLog(SqliteStore(tmp_path / "reference.sqlite3"))
    reference.append_many([b"0", b"a", b"b", b"c", b"d"])
    assert ours.root() == theirs.root() == reference.root()
    theirs.inclusion_proof(4).verify(hash_leaf(b"d"), reference.root())


def test_failed_append_leaves_the_log_unchanged(tmp_path):
    writable = TransparencyLog(SqliteStore(tmp_path / "log.sqlite3"))
    writable.append(b"a")
    writable.close()
    log = TransparencyLog(SqliteStore(tmp_path / "log.sqlite3", read_only=True))
    root = log.root()
    with pytest.raises(StorageError, match="read-only"):
        log.append_many([b"b", b"c"])
    assert log.size == 1
    assert log.root() == root  # its in-memory tree rolled back


def test_closing_a_batch_needs_an_anchorer(full_log):
    with pytest.raises(InvalidInputError, match="no signing key and registry"):
        full_log.close_batch()


def test_batch_is_due_when_it_reaches_max_records(store):
    log = TransparencyLog(store, policy=BatchPolicy(max_records=3, max_seconds=60))
    log.append_many([b"a", b"b"])
    assert not log.batch_due()
    log.append(b"c")
    assert log.batch_due()


def test_batch_is_due_when_its_first_record_is_max_seconds_old(store):
    now = [1000.0]
    log = TransparencyLog(store, policy=BatchPolicy(10, max_seconds=5), clock=lambda: now[0])
    now[0] += 100  # idle time before the first record does not count
    log.append(b"a")
    now[0] += 4.9
    assert not log.batch_due()
    now[0] += 0.1
    assert log.batch_due()


def test_empty_batch_is_never_due(store):
    now = [0.0]
    log = TransparencyLog(store, policy=BatchPolicy(1, max_seconds=1), clock=lambda: now[0])
    now[0] += 10
    assert not log.batch_due()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_records": 0}, "max_records: expected >= 1, got 0"),
        ({"max_seconds": 0}, "max_seconds: expected > 0, got 0"),
        ({"max_records": 1.5}, "max_records: expected an integer"),
    ],
)
def test_batch_policy_rejects_bad_limits(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        BatchPolicy(**kwargs)


def test_open_store_defaults_to_sqlite_in_the_data_dir(settings):
    store = open_store(settings)
    assert isinstance(store, SqliteStore)
    assert store.path == settings.home / "logs" / "decisions.sqlite3"
    store.close()


def test_open_store_rejects_a_non_postgres_url(settings):
    settings.database_url = "mysql://db/x"
    with pytest.raises(InvalidInputError, match=r"expected a postgresql:// URL, got mysql://"):
        open_store(settings)


def test_open_store_error_for_a_url_without_scheme_does_not_echo_it(settings):
    settings.database_url = "admin:s3cret@db.example/x"
    with pytest.raises(InvalidInputError, match="got a URL with no scheme") as caught:
        open_store(settings)
    assert "s3cret" not in caught.value.message


def test_open_store_rejects_a_name_that_is_not_an_identifier(settings):
    with pytest.raises(InvalidInputError, match="log name: expected an identifier"):
        open_store(settings, name="../etc")


def test_append_many_refs_behave_like_a_list(log):
    refs = log.append_many([b"a", b"b", b"c"])
    assert len(refs) == 3
    assert refs[-1] == (2, hash_leaf(b"c"))
    assert refs[1:] == [(1, hash_leaf(b"b")), (2, hash_leaf(b"c"))]
    assert list(refs) == [refs[0], refs[1], refs[2]]
    with pytest.raises(IndexError, match="leaf ref 3 out of range"):
        refs[3]


def test_appending_nothing_stores_nothing(log):
    assert len(log.append_many([])) == 0
    assert log.size == 0


def test_postgres_store_with_unreachable_server_names_the_url_field():
    with pytest.raises(StorageError, match="database_url: cannot connect to PostgreSQL"):
        PostgresStore("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 4)), min_size=1, max_size=12))
def test_interleaved_writers_build_the_tree_of_one_writer(tmp_path_factory, turns):
    """Whoever appends, in whatever order: the tree is the one of the records in order."""
    path = tmp_path_factory.mktemp("writers") / "log.sqlite3"
    writers = [TransparencyLog(SqliteStore(path)) for _ in range(3)]
    appended: list[bytes] = []
    for writer, count in turns:
        batch = [f"{writer}-{len(appended) + i}".encode() for i in range(count)]
        refs = writers[writer].append_many(batch)
        assert refs[0].index == len(appended)
        appended += batch
    expected = merkle.mth(appended)
    for writer in writers:
        assert writer.size == len(appended)
        assert writer.root() == expected
        writer.close()
