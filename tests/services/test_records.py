"""``ConsumerRecords``: durable before a voucher leaves, rebuilt only upwards, one turn
per channel."""

from __future__ import annotations

import fcntl
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ailedger.config import Settings
from ailedger.services.records import ChannelRef, ConsumerRecords
from ailedger.services.runtime import open_consumer_records

REF = ChannelRef(31337, "0x" + "11" * 20, 7)


def test_records_fsync_every_commit(tmp_path):
    """The "signed" record must survive a power loss: it is all that stops the client
    from signing a second voucher with a nonce the host already holds."""
    settings = Settings(home=tmp_path)
    with open_consumer_records(settings, "0x" + "22" * 20) as records:
        (mode,) = records._db.execute("PRAGMA synchronous").fetchone()  # per connection
    assert mode == 2  # FULL


def test_a_channel_turn_excludes_every_other_descriptor(tmp_path):
    with ConsumerRecords(tmp_path / "records.sqlite3") as records, records.channel_turn(REF):
        name = hashlib.sha256(REF.key.encode()).hexdigest()[:32] + ".lock"
        with (
            open(tmp_path / "records.sqlite3.turns" / name, "a") as other,
            pytest.raises(BlockingIOError),
        ):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        other_channel = ChannelRef(REF.chain_id, REF.contract, REF.channel_id + 1)
        with records.channel_turn(other_channel):
            pass  # other channels proceed


_pairs = st.tuples(st.integers(0, 2**96 - 1), st.integers(0, 2**128))


@settings(max_examples=40, deadline=None)  # each example fsyncs a fresh file
@given(before=st.lists(_pairs, max_size=4), evidence=_pairs)
def test_rebuild_only_raises_records(tmp_path_factory, before, evidence):
    """Property: a rebuild never lowers what was signed or accepted, and covers the evidence."""
    path = tmp_path_factory.mktemp("records") / "records.sqlite3"
    with ConsumerRecords(path) as records:
        for nonce, amount in before:
            records.rebuild(REF, nonce=nonce, amount=amount)
        old = records.channel(REF)
        new = records.rebuild(REF, nonce=evidence[0], amount=evidence[1])
    assert new.signed_nonce >= max(evidence[0], old.signed_nonce if old else 0)
    assert new.accepted_amount >= max(evidence[1], old.accepted_amount if old else 0)
    assert new.signed_amount >= new.accepted_amount
