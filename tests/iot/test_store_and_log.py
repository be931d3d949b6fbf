"""Dedup holds in the database (SQLite and PostgreSQL); accepted messages reach the iot log once."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger.config import Settings
from ailedger.core.log import hash_leaf
from ailedger.iot import open_message_store
from ailedger.iot.store import Accepted
from tests.conftest import require_service

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _accepted(device: str, seq: int) -> Accepted:
    record = json.dumps({"message": {"device": device, "seq": seq}}).encode()
    return Accepted(device, seq, "reading", 1, 2, record)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request, tmp_path):
    if request.param == "sqlite":
        return Settings(home=tmp_path / "home")
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return Settings(home=tmp_path / "home", database_url=POSTGRES_URL)


def _schema() -> str:
    return "iot_test_" + uuid.uuid4().hex[:12]


def test_two_stores_on_one_database_never_accept_a_sequence_twice(store_settings):
    schema = _schema()
    first = open_message_store(store_settings, schema=schema)
    second = open_message_store(store_settings, schema=schema)
    try:
        assert first.admit([_accepted("0xA", 1), _accepted("0xA", 2)]) == [None, None]
        assert second.admit([_accepted("0xA", 2), _accepted("0xA", 1), _accepted("0xA", 3)]) == [
            "replayed",
            "replayed",
            None,
        ]
        assert first.admit([_accepted("0xA", 3)]) == ["replayed"]
        assert second.message_count() == 3
    finally:
        first.close()
        second.close()


def test_gap_then_lower_sequence_is_stale(store_settings):
    store = open_message_store(store_settings, schema=_schema())
    try:
        assert store.admit([_accepted("0xB", 10), _accepted("0xB", 7)]) == [None, "stale_seq"]
        assert store.admit([_accepted("0xC", 0)]) == [None]  # seq 0 is a valid first
    finally:
        store.close()


def test_reorder_window_admits_late_messages_but_never_a_replay(store_settings):
    store = open_message_store(store_settings, schema=_schema())
    try:
        first = [_accepted("0xD", seq) for seq in (5, 3, 9)]
        assert store.admit(first, window=4) == [None, None, None]
        later = [_accepted("0xD", seq) for seq in (6, 3, 5, 4)]
        assert store.admit(later, window=4) == [None, "replayed", "replayed", "stale_seq"]
    finally:
        store.close()


def test_rejection_counts_add_up(store_settings):
    store = open_message_store(store_settings, schema=_schema())
    try:
        store.count_rejections({("0xA", "malformed"): 2})
        store.count_rejections({("0xA", "malformed"): 1, ("", "oversized"): 1})
        assert store.rejection_counts() == {("0xA", "malformed"): 3, ("", "oversized"): 1}
    finally:
        store.close()


def test_accepted_messages_are_appended_to_the_iot_log_once(fleet):
    ingester = fleet.ingester()
    device = fleet.devices[0]
    for seq in (1, 2, 3):
        assert ingester.ingest(json.dumps(fleet.signed(device, seq).to_wire()).encode()).accepted
    writer = fleet.node.log_writer()
    assert writer.drain() == 3
    assert writer.drain() == 0
    stored = fleet.node.store.find(device.address, 2)
    assert writer.log.leaf_hash(stored.leaf_index) == hash_leaf(stored.record)
    assert writer.log.record(stored.leaf_index) == stored.record
    head = writer.log.close_batch()
    assert head is not None and head.head.tree_size == 3
    assert writer.log.anchors()[-1].tree_size == 3


def test_crash_between_log_append_and_store_update_is_recovered(fleet):
    device = fleet.devices[0]
    ingester = fleet.ingester()
    for seq in (1, 2):
        ingester.ingest(json.dumps(fleet.signed(device, seq).to_wire()).encode())
    writer = fleet.node.log_writer()
    pending = fleet.node.store.pending()
    writer.log.append_many(m.record for m in pending)  # the crash: store never told
    assert fleet.node.store.logged_count() == 0
    restarted = fleet.node.log_writer()
    assert fleet.node.store.logged_count() == 2
    assert restarted.drain() == 0
    assert restarted.log.size == 2


@settings(max_examples=60, deadline=None)
@given(
    seqs=st.lists(st.integers(0, 30), max_size=40),
    window=st.integers(0, 5),
    split=st.integers(1, 8),
)
def test_admit_matches_the_anti_replay_rule_in_any_batching(tmp_path_factory, seqs, window, split):
    settings_ = Settings(home=tmp_path_factory.mktemp("prop"))
    store = open_message_store(settings_, schema="prop")
    try:
        outcomes = []
        for start in range(0, len(seqs), split):
            outcomes += store.admit(
                [_accepted("0xE", s) for s in seqs[start : start + split]], window=window
            )
        stored: set[int] = set()
        for seq, outcome in zip(seqs, outcomes, strict=True):
            expected = (
                "replayed"
                if seq in stored
                else "stale_seq"
                if stored and seq <= max(stored) - window
                else None
            )
            assert outcome == expected
            if outcome is None:
                stored.add(seq)
        assert store.message_count() == len(stored)
    finally:
        store.close()


def test_a_second_writer_never_appends_what_another_appended_but_not_yet_marked(fleet):
    """The API and `iot ingest` on one data dir each run a LogWriter on one store and log."""
    device = fleet.devices[0]
    ingester = fleet.ingester()
    api_writer, ingest_writer = fleet.node.log_writer(), fleet.node.log_writer()
    for seq in (1, 2):
        ingester.ingest(json.dumps(fleet.signed(device, seq).to_wire()).encode())
    # The ingest writer appended, and has not marked them yet (between its two commits).
    ingest_writer.log.append_many(m.record for m in fleet.node.store.pending())
    assert api_writer.drain() == 0
    assert api_writer.log.size == 2
    assert fleet.node.store.logged_count() == 2


def test_writers_on_two_threads_log_every_message_once(fleet):
    devices = fleet.devices[:2]
    writers = [fleet.node.log_writer(), fleet.node.log_writer()]

    def ingest_and_drain(device, writer):
        ingester = fleet.ingester()
        for seq in range(1, 41):
            ingester.ingest(json.dumps(fleet.signed(device, seq).to_wire()).encode())
            writer.drain()

    threads = [
        threading.Thread(target=ingest_and_drain, args=pair)
        for pair in zip(devices, writers, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = [writers[0].log.record(i) for i in range(writers[0].log.size)]
    assert len(records) == len(set(records)) == 80
    assert fleet.node.store.logged_count() == 80


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["ingest", "drain", "append_unmarked"]), st.integers(0, 1)),
        max_size=12,
    )
)
def test_any_interleaving_of_two_writers_logs_each_message_once(fleet, steps):
    """Two writers draining in any order, one sometimes stopping between its log append and
    its store update (a crash, or a writer not yet done): a final drain leaves every
    stored message in the log exactly once."""
    device = fleet.devices[2]
    store = fleet.node.store
    writers = [fleet.node.log_writer(), fleet.node.log_writer()]
    ingester = fleet.ingester()
    latest = store.messages(device.address, limit=1)
    seq = latest[0].seq if latest else 0
    for action, which in steps:
        writer = writers[which]
        if action == "ingest":
            for _ in range(which + 1):
                seq += 1
                ingester.ingest(json.dumps(fleet.signed(device, seq).to_wire()).encode())
        elif action == "drain":
            writer.drain()
        else:
            with writer.log.store.writing():  # drain's locked part, without the mark
                writer.recover()
                writer.log.append_many(m.record for m in store.pending())
    writers[0].drain()
    records = [writers[0].log.record(i) for i in range(writers[0].log.size)]
    assert len(records) == len(set(records)) == store.message_count()
    assert store.logged_count() == store.message_count()
