"""Ingestion accepts only registered, active devices' fresh, correctly signed messages."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger.iot import MAX_PAYLOAD_BYTES, RejectReason

from .conftest import NOW_MS


def _payload(signed) -> bytes:
    return json.dumps(signed.to_wire()).encode()


def _state(fleet) -> tuple:
    store = fleet.node.store
    return store.message_count(), [(m.device, m.seq) for m in store.messages()]


def test_valid_reading_is_accepted_and_stored(fleet):
    device = fleet.devices[0]
    outcome = fleet.ingester().ingest(_payload(fleet.signed(device, 1)), fleet.topic(device))
    assert outcome.accepted, outcome
    stored = fleet.node.store.find(device.address, 1)
    assert stored is not None and stored.type == "reading"
    assert json.loads(stored.record)["message"]["signature"].startswith("0x")


def test_increasing_sequence_numbers_are_all_accepted(fleet):
    device = fleet.devices[0]
    ingester = fleet.ingester()
    outcomes = ingester.ingest_many(
        (_payload(fleet.signed(device, seq)), None) for seq in (1, 2, 5)
    )
    assert [o.accepted for o in outcomes] == [True, True, True]


def _rejected(fleet, payload: bytes, reason: RejectReason, topic=None, ingester=None):
    ingester = ingester or fleet.ingester()
    before = _state(fleet)
    outcome = ingester.ingest(payload, topic)
    assert not outcome.accepted
    assert outcome.reason is reason, outcome
    assert _state(fleet) == before  # nothing stored changes
    return outcome


def test_unregistered_device_is_rejected(fleet):
    stranger = Account.from_key(b"\x77" * 32)
    outcome = _rejected(fleet, _payload(fleet.signed(stranger, 1)), RejectReason.UNKNOWN_DEVICE)
    counts = fleet.node.store.rejection_counts()
    assert counts[(stranger.address, "unknown_device")] == 1
    assert stranger.address in outcome.detail


@pytest.mark.parametrize(
    ("change", "reason"),
    [("suspend", RejectReason.SUSPENDED_DEVICE), ("revoke", RejectReason.REVOKED_DEVICE)],
)
def test_inactive_device_is_rejected(fleet, change, reason):
    device = fleet.devices[0]
    ingester = fleet.ingester()
    assert ingester.ingest(_payload(fleet.signed(device, 1))).accepted
    getattr(fleet.node.registry, change)(fleet.owner, device.address)
    ingester.refresh()
    _rejected(fleet, _payload(fleet.signed(device, 2)), reason, ingester=ingester)
    assert fleet.node.store.rejection_counts()[(device.address, str(reason))] == 1


def test_resumed_device_is_accepted_again(fleet):
    device = fleet.devices[0]
    fleet.node.registry.suspend(fleet.owner, device.address)
    fleet.node.registry.resume(fleet.owner, device.address)
    assert fleet.ingester().ingest(_payload(fleet.signed(device, 1))).accepted


def test_signature_by_another_key_is_rejected(fleet):
    device, other = fleet.devices[0], fleet.devices[1]
    forged = fleet.node.codec.sign(other, fleet.reading(device, 1))
    outcome = _rejected(fleet, _payload(forged), RejectReason.BAD_SIGNATURE)
    assert other.address in outcome.detail


def test_altered_value_is_rejected(fleet):
    wire = fleet.signed(fleet.devices[0], 1).to_wire()
    wire["values"][0]["value"] += 1
    _rejected(fleet, json.dumps(wire).encode(), RejectReason.BAD_SIGNATURE)


def test_high_s_signature_is_rejected(fleet):
    signed = fleet.signed(fleet.devices[0], 1)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    sig = signed.signature
    twin = (
        sig[:32]
        + (n - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big")
        + bytes([55 - sig[64]])
    )
    wire = signed.to_wire() | {"signature": "0x" + twin.hex()}
    outcome = _rejected(fleet, json.dumps(wire).encode(), RejectReason.BAD_SIGNATURE)
    assert "upper half" in outcome.detail


def test_rotated_key_signs_and_retired_key_is_rejected(fleet):
    device, new_key = fleet.devices[0], Account.from_key(b"\x55" * 32)
    fleet.node.registry.rotate_key(fleet.owner, device.address, new_key.address)
    ingester = fleet.ingester()
    _rejected(
        fleet, _payload(fleet.signed(device, 1)), RejectReason.BAD_SIGNATURE, ingester=ingester
    )
    by_new_key = fleet.node.codec.sign(new_key, fleet.reading(device, 2))
    assert ingester.ingest(_payload(by_new_key)).accepted


def test_replayed_reading_is_rejected(fleet):
    device = fleet.devices[0]
    ingester = fleet.ingester()
    payload = _payload(fleet.signed(device, 3))
    assert ingester.ingest(payload).accepted
    _rejected(fleet, payload, RejectReason.REPLAYED, ingester=ingester)


def test_older_sequence_number_is_rejected(fleet):
    device = fleet.devices[0]
    ingester = fleet.ingester()
    assert ingester.ingest(_payload(fleet.signed(device, 5))).accepted
    _rejected(fleet, _payload(fleet.signed(device, 4)), RejectReason.STALE_SEQ, ingester=ingester)


def test_replay_within_one_batch_is_rejected(fleet):
    payload = _payload(fleet.signed(fleet.devices[0], 1))
    outcomes = fleet.ingester().ingest_many([(payload, None), (payload, None)])
    assert [o.accepted for o in outcomes] == [True, False]
    assert outcomes[1].reason is RejectReason.REPLAYED


@pytest.mark.parametrize("offset_ms", [-300_001, 300_001, -(10**12)])
def test_timestamp_outside_skew_window_is_rejected(fleet, offset_ms):
    signed = fleet.signed(fleet.devices[0], 1, timestamp=NOW_MS + offset_ms)
    _rejected(fleet, _payload(signed), RejectReason.CLOCK_SKEW)


def test_skew_window_is_configurable(fleet):
    signed = fleet.signed(fleet.devices[0], 1, timestamp=NOW_MS + 2_000)
    _rejected(
        fleet, _payload(signed), RejectReason.CLOCK_SKEW, ingester=fleet.ingester(max_skew_ms=1_000)
    )
    assert fleet.ingester(max_skew_ms=3_000).ingest(_payload(signed)).accepted


def test_values_without_units_are_rejected(fleet):
    wire = fleet.signed(fleet.devices[0], 1).to_wire()
    for unit in ("", None):
        wire["values"][0]["unit"] = unit
        outcome = _rejected(fleet, json.dumps(wire).encode(), RejectReason.MISSING_UNIT)
        assert "temperature" in outcome.detail
    wire["values"][0].pop("unit")
    _rejected(fleet, json.dumps(wire).encode(), RejectReason.MISSING_UNIT)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"type": "reading"}',
        b'{"type": "weather", "device": "0x0000000000000000000000000000000000000001"}',
    ],
)
def test_malformed_payload_is_rejected(fleet, payload):
    _rejected(fleet, payload, RejectReason.MALFORMED)


def test_float_values_are_malformed(fleet):
    wire = fleet.signed(fleet.devices[0], 1).to_wire()
    wire["values"][0]["value"] = 4.25
    outcome = _rejected(fleet, json.dumps(wire).encode(), RejectReason.MALFORMED)
    assert "thousandths" in outcome.detail


def test_oversized_payload_is_rejected(fleet):
    wire = fleet.signed(fleet.devices[0], 1).to_wire() | {"padding": "x" * MAX_PAYLOAD_BYTES}
    _rejected(fleet, json.dumps(wire).encode(), RejectReason.OVERSIZED)


def test_wrong_topic_for_the_device_is_rejected(fleet):
    device, other = fleet.devices[0], fleet.devices[1]
    payload = _payload(fleet.signed(device, 1))
    _rejected(fleet, payload, RejectReason.WRONG_TOPIC, topic=fleet.topic(other))
    _rejected(fleet, payload, RejectReason.WRONG_TOPIC, topic="ailedger/iot/other")


def test_rejections_are_counted_per_device_and_reason(fleet):
    device = fleet.devices[0]
    ingester = fleet.ingester()
    ingester.ingest(_payload(fleet.signed(device, 2)))
    for _ in range(3):
        ingester.ingest(_payload(fleet.signed(device, 1)))
    ingester.ingest(b"garbage")
    stats = ingester.stats()
    assert stats["devices"][device.address] == {
        "accepted": {"reading": 1},
        "rejected": {"stale_seq": 3},
    }
    assert stats["totals"]["rejected"] == {"stale_seq": 3, "malformed": 1}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.binary(max_size=600) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_never_crash_and_store_nothing(fleet, payload):
    before = _state(fleet)
    outcome = fleet.ingester().ingest(payload, fleet.topic(fleet.devices[0]))
    assert not outcome.accepted and outcome.reason is not None
    assert _state(fleet) == before


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(
        ["device", "seq", "timestamp", "values", "location", "signature", "type"]
    ),
    value=st.one_of(
        st.none(), st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=3)
    ),
)
def test_any_mutated_field_is_rejected_or_is_the_original(fleet, field, value):
    signed = fleet.signed(fleet.devices[1], 10)
    wire = signed.to_wire()
    if wire.get(field) == value:
        return
    wire[field] = value
    before = _state(fleet)
    outcome = fleet.ingester().ingest(json.dumps(wire).encode())
    assert not outcome.accepted
    assert _state(fleet) == before


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(forged=st.sets(st.integers(0, 149)))
def test_a_large_batch_checks_each_signature_against_its_own_message(fleet, forged):
    """Signatures of a big batch are recovered on several threads: outcomes keep their order."""
    from ailedger.iot.ingest import SIGNATURE_WORKERS

    stranger = Account.from_key(b"\x77" * 32)
    ingester = fleet.ingester()
    base = fleet.node.store.message_count()
    device = fleet.devices[0]
    latest = fleet.node.store.messages(device.address, limit=1)
    first_seq = latest[0].seq + 1 if latest else 1  # each example sends new sequence numbers
    payloads = []
    for offset in range(150):
        message = fleet.reading(device, first_seq + offset)
        signer = stranger if offset in forged else device
        payloads.append((_payload(fleet.node.codec.sign(signer, message)), None))
    outcomes = ingester.ingest_many(payloads)
    assert SIGNATURE_WORKERS >= 1
    for offset, outcome in enumerate(outcomes):
        if offset in forged:
            assert outcome.reason is RejectReason.BAD_SIGNATURE, offset
            assert stranger.address in outcome.detail
        else:
            assert outcome.accepted, (offset, outcome.detail)
    assert fleet.node.store.message_count() == base + 150 - len(forged)
