"""Batches close into signed tree heads, anchored in AnchorRegistry with one transaction."""

from __future__ import annotations

import pytest
from eth_account import Account

from ailedger.core.log import (
    Anchorer,
    BatchPolicy,
    SignedTreeHead,
    SqliteStore,
    TransparencyLog,
    TreeHead,
    registry_domain,
)
from ailedger.errors import InvalidInputError, NotFoundError, RevertError, UnauthorizedError


@pytest.fixture
def anchorer(registry) -> Anchorer:
    return registry.anchorer()


@pytest.fixture
def log(tmp_path, anchorer) -> TransparencyLog:
    return TransparencyLog(
        SqliteStore(tmp_path / "log.sqlite3"),
        anchorer=anchorer,
        policy=BatchPolicy(max_records=5, max_seconds=3600),
    )


def _records(n: int, start: int = 0) -> list[bytes]:
    return [f"decision {i}".encode() for i in range(start, start + n)]


def test_closing_a_batch_signs_a_head_over_every_record(log, registry):
    log.append_many(_records(3))
    signed = log.close_batch()
    assert signed.head.tree_size == 3
    assert signed.head.root_hash == log.root()
    assert signed.signer(log.anchorer.domain) == registry.signer.address
    assert log.heads() == [signed]


def test_one_transaction_anchors_the_whole_batch(log, registry):
    log.append_many(_records(4))
    before = registry.chain.block_number()
    log.close_batch()
    (anchor,) = log.anchors()
    assert registry.chain.block_number() == before + 1
    receipt = registry.chain.wait_for_receipt(anchor.tx_hash)
    assert [e.name for e in registry.contract.decode_logs(receipt)] == ["Anchored"]
    assert (anchor.tree_size, anchor.index, anchor.block_number) == (4, 0, receipt.block_number)


def test_anchored_head_is_readable_from_the_chain(log, anchorer):
    log.append_many(_records(4))
    signed = log.close_batch()
    (on_chain,) = anchorer.chain_heads()
    assert (on_chain.tree_size, on_chain.root_hash) == (4, signed.head.root_hash)
    assert on_chain.timestamp == signed.head.timestamp


def test_batch_closes_by_itself_at_max_records(log):
    log.append_many(_records(4))
    assert log.heads() == []
    log.append(b"fifth")
    assert [h.head.tree_size for h in log.heads()] == [5]
    assert [a.tree_size for a in log.anchors()] == [5]


def test_poll_closes_a_batch_by_age(tmp_path, anchorer):
    now = [1_700_000_000.0]
    log = TransparencyLog(
        SqliteStore(tmp_path / "log.sqlite3"),
        anchorer=anchorer,
        policy=BatchPolicy(max_records=100, max_seconds=30),
        clock=lambda: now[0],
    )
    log.append(b"a")
    assert log.poll() is None
    now[0] += 30
    signed = log.poll()
    assert signed.head.tree_size == 1
    assert signed.head.timestamp == 1_700_000_030_000  # milliseconds


def test_closing_an_empty_batch_sends_nothing(log, registry):
    log.append_many(_records(2))
    log.close_batch()
    block = registry.chain.block_number()
    assert log.close_batch() is None
    assert registry.chain.block_number() == block


def test_head_timestamps_never_go_back_when_the_clock_does(tmp_path, anchorer):
    now = [2000.0]
    log = TransparencyLog(
        SqliteStore(tmp_path / "log.sqlite3"), anchorer=anchorer, clock=lambda: now[0]
    )
    log.append(b"a")
    first = log.close_batch()
    now[0] = 1000.0
    log.append(b"b")
    second = log.close_batch()
    assert second.head.timestamp == first.head.timestamp
    assert len(log.anchors()) == 2


def test_consecutive_heads_are_consistent(log):
    log.append_many(_records(7))
    log.close_batch()
    log.append_many(_records(6, start=7))
    log.close_batch()
    old, new = (h.head for h in log.heads())
    log.consistency_proof(old.tree_size, new.tree_size).verify(old.root_hash, new.root_hash)


def test_registering_the_same_log_twice_gives_the_same_id(registry):
    assert registry.anchorer().log_id == registry.anchorer().log_id


def test_registering_an_existing_log_with_another_signer_is_rejected(registry):
    registry.anchorer()
    with pytest.raises(InvalidInputError, match=r"is signed by .*, got"):
        Anchorer.register(
            registry.contract, "decisions", admin=registry.admin, signer=registry.other
        )


def test_store_of_one_log_cannot_be_opened_for_another(tmp_path, registry):
    TransparencyLog(SqliteStore(tmp_path / "log.sqlite3"), anchorer=registry.anchorer("a"))
    with pytest.raises(InvalidInputError, match="log_id: this store belongs to log"):
        TransparencyLog(SqliteStore(tmp_path / "log.sqlite3"), anchorer=registry.anchorer("b"))


def test_registry_rejects_a_head_signed_by_another_key(anchorer, registry):
    head = TreeHead(anchorer.log_id, 1, b"\x11" * 32, 1)
    forged = head.sign(registry.other, anchorer.domain)
    with pytest.raises(RevertError, match="signature is not the log signer's"):
        anchorer.anchor(forged)


def test_registry_rejects_a_head_that_shrinks(log, anchorer):
    log.append_many(_records(3))
    previous = log.close_batch().head
    smaller = TreeHead(anchorer.log_id, 2, log.root(2), previous.timestamp)
    with pytest.raises(RevertError, match="tree size must grow"):
        anchorer.anchor(anchorer.sign(smaller))


def test_append_succeeds_when_anchoring_fails_and_anchoring_resumes_later(
    tmp_path, registry, anchorer
):
    broke = Anchorer(
        registry.contract, anchorer.log_id, signer=registry.signer, sender=Account.create()
    )
    log = TransparencyLog(
        SqliteStore(tmp_path / "log.sqlite3"), anchorer=broke, policy=BatchPolicy(max_records=2)
    )
    refs = log.append_many(_records(2))  # the batch closes; its sender cannot pay for gas
    assert [r.index for r in refs] == [0, 1]
    assert [h.head.tree_size for h in log.heads()] == [2]
    assert log.anchors() == []
    log.close()
    resumed = TransparencyLog(SqliteStore(tmp_path / "log.sqlite3"), anchorer=anchorer)
    (anchor,) = resumed.anchor_pending()
    assert anchor.tree_size == 2
    assert [c.tree_size for c in anchorer.chain_heads()] == [2]


def test_head_anchored_before_a_crash_is_recorded_not_sent_again(tmp_path, anchorer, registry):
    store = SqliteStore(tmp_path / "log.sqlite3")
    log = TransparencyLog(store, anchorer=anchorer)
    log.append_many(_records(3))
    signed = anchorer.sign(TreeHead(anchorer.log_id, 3, log.root(), 1))
    store.add_head(signed)
    sent = anchorer.anchor(signed)  # on chain, but the process "died" before recording it
    block = registry.chain.block_number()
    assert log.anchor_pending() == [sent]
    assert registry.chain.block_number() == block
    assert log.anchors() == [sent]


# Tree heads and their signatures.


def test_head_signature_verifies_for_the_log_signer(anchorer, registry):
    signed = anchorer.sign(TreeHead(anchorer.log_id, 9, b"\x22" * 32, 5))
    signed.verify(anchorer.domain, registry.signer.address)


def test_head_signature_by_another_key_is_unauthorized(anchorer, registry):
    forged = TreeHead(anchorer.log_id, 9, b"\x22" * 32, 5).sign(registry.other, anchorer.domain)
    with pytest.raises(UnauthorizedError, match="TreeHead signature is by"):
        forged.verify(anchorer.domain, registry.signer.address)


def test_head_signed_for_another_chain_does_not_verify(anchorer, registry):
    signed = anchorer.sign(TreeHead(anchorer.log_id, 9, b"\x22" * 32, 5))
    elsewhere = registry_domain(1, registry.contract.address)
    with pytest.raises(UnauthorizedError):
        signed.verify(elsewhere, registry.signer.address)


def test_signed_head_round_trips_through_a_json_dict(anchorer):
    signed = anchorer.sign(TreeHead(anchorer.log_id, 9, b"\x22" * 32, 5))
    assert SignedTreeHead.from_dict(signed.to_dict()) == signed


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("log_id", b"\x01" * 31, "log_id: expected 32 bytes, got 31 bytes"),
        ("root_hash", "00" * 32, "root_hash: expected 32 bytes, got str"),
        ("tree_size", -1, r"tree_size: expected an integer in \[0, "),
        ("timestamp", 2**64, r"timestamp: expected an integer in \[0, 18446744073709551615\]"),
    ],
)
def test_tree_head_rejects_bad_fields(field, value, message):
    fields = {"log_id": b"\x01" * 32, "tree_size": 1, "root_hash": b"\x02" * 32, "timestamp": 0}
    with pytest.raises(InvalidInputError, match=message):
        TreeHead(**{**fields, field: value})


def test_tree_head_from_dict_names_a_missing_field():
    with pytest.raises(InvalidInputError, match="root_hash: missing"):
        TreeHead.from_dict({"log_id": "0x" + "00" * 32, "tree_size": 1, "timestamp": 0})


def test_signer_at_a_block_is_the_one_in_force_then_not_after_a_rotation(log, anchorer, registry):
    log.append_many(_records(2))
    log.close_batch()
    (anchor,) = log.anchors()
    registry.contract.set_signer(anchorer.log_id, registry.other.address, sender=registry.admin)
    assert anchorer.signer_at(anchor.block_number) == registry.signer.address
    assert anchorer.signer_at(registry.chain.block_number()) == registry.other.address
    assert anchorer.log_signer() == registry.other.address


def test_signer_at_of_a_log_not_yet_registered_is_not_found(anchorer, registry):
    registered_in = registry.chain.block_number()
    with pytest.raises(NotFoundError, match="is not registered") as error:
        anchorer.signer_at(registered_in - 1)
    assert error.value.field == "log_id"


@pytest.mark.parametrize("block", [-1, 1.5, True, "7"])
def test_signer_at_rejects_a_block_that_is_not_a_block_number(anchorer, block):
    with pytest.raises(InvalidInputError, match="block_number: expected a non-negative integer"):
        anchorer.signer_at(block)
