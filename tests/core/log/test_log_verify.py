"""verify_log finds tampering done directly in the database, and names the first bad record.

The log has 37 records: heads at sizes 20 and 32 are signed and anchored, the last 5
records are not yet in a head. Each test plays an attacker with write access to the
SQLite file who first drops the append-only triggers.
"""

from __future__ import annotations

import sqlite3
import time

import pytest

from ailedger.core.log import (
    Anchorer,
    BatchPolicy,
    LogTamperedError,
    SqliteStore,
    TransparencyLog,
    TreeHead,
    hash_leaf,
    verify_log,
)
from ailedger.core.log.merkle import consistency_proof, mth
from ailedger.core.log.nodes import CompactRange
from ailedger.errors import IntegrityError, RevertError

RECORDS = [f"decision {i}".encode() for i in range(37)]


@pytest.fixture
def anchorer(registry):
    return registry.anchorer()


@pytest.fixture
def path(tmp_path, anchorer):
    path = tmp_path / "log.sqlite3"
    log = TransparencyLog(SqliteStore(path), anchorer=anchorer, policy=BatchPolicy(1000))
    log.append_many(RECORDS[:20])
    log.close_batch()
    log.append_many(RECORDS[20:32])
    log.close_batch()
    log.append_many(RECORDS[32:])
    log.close()
    return path


@pytest.fixture
def attacker(path):
    conn = sqlite3.connect(path, isolation_level=None)
    triggers = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for (name,) in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    yield conn
    conn.close()


def _verify(path, anchorer=None):
    store = SqliteStore(path)
    try:
        return verify_log(store, anchorer)
    finally:
        store.close()


def _first_bad_index(path, anchorer=None) -> int:
    """The record verify_log pins as the first bad one (it must be exact here)."""
    first, last = _bad_range(path, anchorer)
    assert first == last
    return first


def _bad_range(path, anchorer=None) -> tuple[int, int]:
    with pytest.raises(LogTamperedError) as caught:
        _verify(path, anchorer)
    return caught.value.index, caught.value.last


def _recompute_all_nodes(conn) -> None:
    """What a careful attacker does after editing records: make the stored tree agree."""
    tree = CompactRange()
    rows = conn.execute("SELECT idx, entry FROM records ORDER BY idx").fetchall()
    for idx, entry in rows:
        conn.execute(
            "UPDATE records SET nodes = ? WHERE idx = ?", (tree.append(hash_leaf(entry)), idx)
        )


def test_untouched_log_verifies(path, anchorer):
    report = _verify(path, anchorer)
    assert (report.records, report.signed_heads, report.chain_heads) == (37, 2, 2)
    assert report.anchored_size == 32


def test_changed_record_is_found_at_its_index(path, attacker, anchorer):
    attacker.execute("UPDATE records SET entry = ? WHERE idx = 25", (b"decision 25: deny",))
    assert _first_bad_index(path, anchorer) == 25


def test_record_edited_with_sqlite_replace_is_found_not_a_crash(path, attacker, anchorer):
    # replace() on a BLOB returns TEXT: the row's type changes along with its content.
    attacker.execute("UPDATE records SET entry = replace(entry, '25', '99') WHERE idx = 25")
    assert attacker.execute("SELECT typeof(entry) FROM records WHERE idx = 25").fetchone() == (
        "text",
    )
    assert _first_bad_index(path, anchorer) == 25


def test_changed_record_is_found_without_the_chain(path, attacker):
    attacker.execute("UPDATE records SET entry = ? WHERE idx = 3", (b"forged",))
    assert _first_bad_index(path) == 3


def test_removed_record_is_found_at_its_index(path, attacker, anchorer):
    attacker.execute("DELETE FROM records WHERE idx = 25")
    assert _first_bad_index(path, anchorer) == 25


def test_removed_record_with_later_ones_renumbered_is_found(path, attacker, anchorer):
    attacker.execute("DELETE FROM records WHERE idx = 9")
    attacker.execute("UPDATE records SET idx = -idx WHERE idx > 9")
    attacker.execute("UPDATE records SET idx = -idx - 1 WHERE idx < 0")
    # Record 9 now carries the nodes made for position 10: the damage is in 8..9.
    assert _bad_range(path, anchorer) == (8, 9)


def test_removed_tail_is_found_at_the_first_missing_index(path, attacker, anchorer):
    attacker.execute("DELETE FROM records WHERE idx >= 27")
    assert _first_bad_index(path, anchorer) == 27


def test_inserted_record_is_found_at_its_index(path, attacker, anchorer):
    attacker.execute("UPDATE records SET idx = -idx - 1 WHERE idx >= 10")
    attacker.execute("UPDATE records SET idx = -idx WHERE idx < 0")  # now 11, 12, ...
    forged = b"decision 9b"
    attacker.execute("INSERT INTO records VALUES (10, ?, ?)", (forged, hash_leaf(forged)))
    # Record 11 now carries the nodes made for position 10: the damage is in 10..11.
    assert _bad_range(path, anchorer) == (10, 11)


def test_reordered_records_are_found_at_the_first_moved_one(path, attacker, anchorer):
    attacker.execute("UPDATE records SET idx = -1 WHERE idx = 12")
    attacker.execute("UPDATE records SET idx = 12 WHERE idx = 14")
    attacker.execute("UPDATE records SET idx = 14 WHERE idx = -1")
    # Rows moved with their nodes: the pair 12..13 no longer hashes to the stored node.
    assert _bad_range(path, anchorer) == (12, 13)


def test_swapped_record_contents_are_found(path, attacker, anchorer):
    attacker.execute("UPDATE records SET entry = ? WHERE idx = 4", (RECORDS[6],))
    attacker.execute("UPDATE records SET entry = ? WHERE idx = 6", (RECORDS[4],))
    assert _first_bad_index(path, anchorer) == 4


def test_rewritten_history_is_caught_by_the_signed_heads(path, attacker):
    attacker.execute("UPDATE records SET entry = ? WHERE idx = 25", (b"decision 25: deny",))
    _recompute_all_nodes(attacker)  # the stored tree agrees with the records again...
    with pytest.raises(LogTamperedError, match="from index 20 to 31 was rewritten") as caught:
        _verify(path)
    # ...but not with the signed head of size 32, while the one of size 20 still holds.
    assert (caught.value.index, caught.value.last) == (20, 31)


def test_rewritten_history_and_stored_heads_are_caught_by_the_chain(path, attacker, anchorer):
    entries = [*RECORDS[:25], b"decision 25: deny", *RECORDS[26:]]
    attacker.execute("UPDATE records SET entry = ? WHERE idx = 25", (entries[25],))
    _recompute_all_nodes(attacker)
    attacker.execute("DELETE FROM tree_heads WHERE tree_size > 20")
    attacker.execute("DELETE FROM anchors WHERE tree_size > 20")
    assert _verify(path).records == 37  # the store alone now looks fine
    with pytest.raises(LogTamperedError, match="anchored head of size 32") as caught:
        _verify(path, anchorer)
    assert (caught.value.index, caught.value.last) == (20, 31)


def test_forged_unanchored_head_is_reported(path, attacker, anchorer, registry):
    store = SqliteStore(path)
    head = TreeHead(anchorer.log_id, 37, TransparencyLog(store).root(), 10**13)
    store.add_head(head.sign(registry.other, anchorer.domain))
    store.close()
    with pytest.raises(
        LogTamperedError, match="signed head of size 37 is forged or corrupted"
    ) as caught:
        _verify(path, anchorer)
    assert caught.value.index == 32


def test_fork_signed_with_the_log_key_is_rejected_by_the_registry(path, anchorer, registry):
    # Before consistency proofs were checked on chain, this fork was anchored and only
    # `verify_log` noticed later. Record 5 rewritten, the tree recomputed, signed by the
    # real log key: no consistency proof from the anchored head of size 32 leads to it.
    forked = [*RECORDS[:5], b"forged decision 5", *RECORDS[6:]]
    head = TreeHead(anchorer.log_id, 37, mth(forked), int(time.time() * 1000))
    proof = consistency_proof(32, 37, lambda start, end: mth(forked[start:end]))
    with pytest.raises(RevertError, match="anchor: consistency proof does not lead to"):
        anchorer.anchor(anchorer.sign(head), proof)
    assert anchorer.anchored_size() == 32
    _verify(path, anchorer)


def test_anchor_recorded_for_a_head_the_chain_does_not_have_is_reported(path, attacker, anchorer):
    attacker.execute("UPDATE anchors SET tree_size = 36 WHERE tree_size = 32")
    with pytest.raises(LogTamperedError, match="size 36 is anchored, the chain has no such head"):
        _verify(path, anchorer)


def test_tampering_is_an_integrity_error_with_the_index(path, attacker):
    attacker.execute("DELETE FROM records WHERE idx = 0")
    with pytest.raises(IntegrityError) as caught:
        _verify(path)
    assert caught.value.index == 0
    assert caught.value.field == "records"


def test_log_over_a_damaged_store_still_opens_for_verification(path, attacker):
    attacker.execute("DELETE FROM records WHERE idx = 35")  # a node of the right border
    log = TransparencyLog(SqliteStore(path))
    assert log.size == 37
    with pytest.raises(LogTamperedError, match="record 35 is missing"):
        verify_log(log.store)
    with pytest.raises(IntegrityError, match=r"stored tree node .* of record 35 is missing"):
        log.root()
    log.close()


def test_corrupted_signature_of_an_anchored_stored_head_is_caught(path, attacker, anchorer):
    # Before: only size and root of anchored heads were compared, so this passed and every
    # proof bundle built from the head afterwards failed.
    (signature,) = attacker.execute(
        "SELECT signature FROM tree_heads WHERE tree_size = 20"
    ).fetchone()
    flipped = signature[:10] + bytes([signature[10] ^ 1]) + signature[11:]
    attacker.execute("UPDATE tree_heads SET signature = ? WHERE tree_size = 20", (flipped,))
    with pytest.raises(LogTamperedError, match="head of size 20 is forged or corrupted") as caught:
        _verify(path, anchorer)
    assert caught.value.index == 0


def test_stored_head_timestamp_off_by_one_ms_is_caught(path, attacker, anchorer):
    attacker.execute("UPDATE tree_heads SET timestamp_ms = timestamp_ms + 1 WHERE tree_size = 32")
    with pytest.raises(LogTamperedError, match=r"its timestamp is \d+ ms, the anchored head's"):
        _verify(path, anchorer)


def test_stored_anchor_naming_another_block_is_caught(path, attacker, anchorer):
    attacker.execute("UPDATE anchors SET block_number = block_number + 1 WHERE tree_size = 20")
    with pytest.raises(LogTamperedError, match="stored anchor of size 20 names registry head"):
        _verify(path, anchorer)


def test_log_keeps_verifying_and_anchoring_across_a_signer_rotation(path, anchorer, registry):
    registry.contract.set_signer(anchorer.log_id, registry.other.address, sender=registry.admin)
    rotated = Anchorer(
        anchorer.registry, anchorer.log_id, signer=registry.other, sender=registry.admin
    )
    log = TransparencyLog(SqliteStore(path), anchorer=rotated, policy=BatchPolicy(1000))
    assert log.close_batch().head.key_epoch == 1
    log.close()
    report = _verify(path, rotated)
    assert (report.chain_heads, report.anchored_size) == (3, 37)
