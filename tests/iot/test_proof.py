"""A stranger proves an accepted device message from its bundle and the chain alone."""

from __future__ import annotations

import copy
import json

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger.errors import NotFoundError
from ailedger.iot.proof import BUNDLE_TYPE, build_message_bundle, verify_message_bundle


def _accept(fleet, device, *seqs):
    ingester = fleet.ingester()
    for seq in seqs:
        payload = json.dumps(fleet.signed(device, seq).to_wire()).encode()
        assert ingester.ingest(payload).accepted


def _anchored_log(fleet):
    writer = fleet.node.log_writer()
    writer.drain()
    writer.log.close_batch()
    return writer.log


@pytest.fixture
def proved(fleet):
    """The fleet, and the bundle of device 0's reading seq 2 (of three accepted)."""
    device = fleet.devices[0]
    _accept(fleet, device, 1, 2, 3)
    log = _anchored_log(fleet)
    return fleet, build_message_bundle(log, fleet.node.store, device.address, 2)


def _forged_signature(bundle) -> str:
    """A valid signature over the same message by another key."""
    from ailedger.contracts.typed_data import device_registry_domain
    from ailedger.core.identity import canonical_json
    from ailedger.iot import MessageCodec, parse_message

    record = bundle["record"]
    codec = MessageCodec(device_registry_domain(record["chainId"], record["registry"]))
    message = parse_message(canonical_json(record["message"])).message
    return "0x" + codec.sign(Account.create(), message).signature.hex()


def _failed(fleet, bundle) -> str:
    verdict = verify_message_bundle(bundle, fleet.node.platform.chain)
    assert not verdict.ok
    return verdict.reason.split(":")[0]


def test_a_readings_bundle_verifies_with_its_device_key_at_the_anchor(proved):
    fleet, bundle = proved
    assert bundle["bundle_type"] == BUNDLE_TYPE
    verdict = verify_message_bundle(bundle, fleet.node.platform.chain)
    assert verdict.ok, verdict.reason
    names = [check.name for check in verdict.checks]
    assert names[-3:] == ["device_registry", "device_key", "identity"]
    assert verdict.record_id == f"{fleet.devices[0].address}/2"
    assert verdict.record.signer == fleet.devices[0].address


@pytest.mark.parametrize(
    ("alter", "check"),
    [
        (lambda b: b["record"]["message"]["values"][0].update(value=9999), "leaf_hash"),
        (lambda b: b["record"]["message"].update(seq=3), "leaf_hash"),
        (lambda b: b["record"].update(receivedAt=b["record"]["receivedAt"] + 1), "leaf_hash"),
        (
            lambda b: b["record"]["message"].update(signature=_forged_signature(b)),
            "leaf_hash",
        ),
        (
            lambda b: b["record"]["message"].update(device=Account.create().address),
            "leaf_hash",
        ),
        (lambda b: b["record"]["message"].update(signature="0x12"), "record"),
        (lambda b: b["inclusion_proof"]["hashes"].reverse(), "inclusion"),
        (lambda b: b["inclusion_proof"].update(leaf_index=0), "inclusion"),
        (lambda b: b.update(bundle_type="ailedger.audit.proof/v1"), "format"),
    ],
    ids=["value", "seq", "received_at", "signature", "device", "bad_signature", "proof",
         "index", "kind"],
)  # fmt: skip
def test_an_altered_bundle_fails_naming_the_check(proved, alter, check):
    fleet, bundle = proved
    altered = copy.deepcopy(bundle)
    alter(altered)
    assert _failed(fleet, altered) == check


def test_a_message_signed_by_a_key_rotated_out_before_its_anchor_fails(fleet):
    device = fleet.devices[1]
    _accept(fleet, device, 1)  # accepted while the old key was in force
    fleet.node.registry.rotate_key(fleet.owner, device.address, Account.create().address)
    log = _anchored_log(fleet)  # anchored after the rotation
    bundle = build_message_bundle(log, fleet.node.store, device.address, 1)
    verdict = verify_message_bundle(bundle, fleet.node.platform.chain)
    assert not verdict.ok
    assert verdict.reason.startswith("device_key: signed by " + device.address)
    assert [c.name for c in verdict.checks if c.ok][-1] == "device_registry"


def test_a_message_of_a_device_revoked_before_its_anchor_fails(fleet):
    device = fleet.devices[2]
    _accept(fleet, device, 1)
    fleet.node.registry.revoke(fleet.owner, device.address)
    bundle = build_message_bundle(_anchored_log(fleet), fleet.node.store, device.address, 1)
    assert _failed(fleet, bundle) == "device_key"


def test_a_message_not_yet_logged_has_no_bundle(fleet):
    device = fleet.devices[0]
    _accept(fleet, device, 1)
    log = fleet.node.platform.open_log("iot")
    with pytest.raises(NotFoundError, match="not in the iot log yet"):
        build_message_bundle(log, fleet.node.store, device.address, 1)
    with pytest.raises(NotFoundError, match="no accepted message"):
        build_message_bundle(log, fleet.node.store, device.address, 7)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_any_flipped_bit_of_the_record_fails(proved, position, bit):
    fleet, bundle = proved
    text = json.dumps(bundle["record"], sort_keys=True)
    index = position % len(text)
    flipped = text[:index] + chr(ord(text[index]) ^ (1 << bit)) + text[index + 1 :]
    try:
        record = json.loads(flipped)
    except ValueError:
        return  # not JSON any more: a bundle reader refuses it before any check
    if record == bundle["record"]:
        return  # a flip inside JSON's insignificant form (e.g. a space): same record
    altered = {**bundle, "record": record}
    assert _failed(fleet, altered) in {"record", "leaf_hash"}
