"""One proof format: a bundle for any record of any log, verified with chain access only."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ailedger.core.identity import canonical_json
from ailedger.core.log import SqliteStore, TransparencyLog, hash_leaf
from ailedger.core.log.bundle import (
    CHECKS,
    JSON_RECORDS,
    RAW_RECORDS,
    CheckedRecord,
    RecordKind,
    build_bundle,
    generic_kind,
    record_kind,
    record_kinds,
    register_record_kind,
    verify_bundle,
)
from ailedger.core.trust import Pins
from ailedger.errors import InvalidInputError, NotFoundError

RAW = b"\x00\xffnot json\x80"


def _check_reading(value: object) -> CheckedRecord:
    """A domain's own checks: a reading names its operator and a plausible temperature."""
    if not isinstance(value, dict) or not -90 <= value.get("celsius", 999) <= 60:
        raise InvalidInputError(f"implausible reading {value!r}", field="celsius")
    return CheckedRecord(
        canonical_json(value),
        value["sensor"],
        f"sensor {value['sensor']}",
        operator=value["operator"],
        value=value,
    )


def _check_reading_block(record: CheckedRecord, chain) -> str:
    """A domain's own chain check: the block a reading cites exists on the chain."""
    block = chain.get_block(record.value["block"])
    return f"reading cites block {block.number}"


READING_KIND = register_record_kind(
    RecordKind(
        "test.reading/v1",
        "reading",
        json.loads,
        _check_reading,
        logged_by="read by",
        chain_checks=(("reading_block", _check_reading_block),),
    )
)


@pytest.fixture
def log(tmp_path, registry):
    """Six JSON readings (the fifth citing a block that does not exist, the last naming
    an outsider as its operator) and one raw record, anchored at size 7; one more record
    unanchored."""
    log = TransparencyLog(SqliteStore(tmp_path / "log.sqlite3"), anchorer=registry.anchorer())
    operators = [registry.admin.address] * 5 + [registry.other.address]
    readings = [
        canonical_json({"sensor": f"t{i}", "celsius": 20 + i, "operator": operator, "block": block})
        for i, (operator, block) in enumerate(zip(operators, [1, 1, 1, 1, 10**9, 1], strict=True))
    ]
    log.append_many([*readings, RAW])
    log.close_batch()
    log.append(b"late")
    yield log
    log.close()


@pytest.fixture
def bundle(log) -> dict:
    return build_bundle(log, 3)


def failed(bundle: dict, chain, pins: Pins | None = None) -> tuple[str, str]:
    verdict = verify_bundle(bundle, chain, pins)
    assert not verdict.ok
    failing = next(check for check in verdict.checks if not check.ok)
    assert verdict.reason == f"{failing.name}: {failing.detail}"
    return failing.name, failing.detail


def test_bundle_of_a_json_record_verifies_with_every_check(bundle, registry):
    verdict = verify_bundle(bundle, registry.chain)
    assert verdict.ok, verdict.reason
    assert [check.name for check in verdict.checks] == list(CHECKS)
    assert (verdict.bundle_type, verdict.leaf_index) == ("ailedger.log.proof/v1", 3)
    assert bundle["record"]["sensor"] == "t3"
    operator = next(check for check in verdict.checks if check.name == "operator")
    assert (
        operator.detail
        == f"the record names no operator; the log's admin is {registry.admin.address}"
    )


def test_bundle_of_bytes_that_are_not_canonical_json_carries_them_as_hex(log, registry):
    bundle = build_bundle(log, 6)
    assert (bundle["bundle_type"], bundle["record"]) == (RAW_RECORDS.bundle_type, "0x" + RAW.hex())
    verdict = verify_bundle(json.loads(json.dumps(bundle)), registry.chain)
    assert verdict.ok, verdict.reason
    assert verdict.record == RAW


def test_bundle_comes_from_the_first_covering_head_however_the_log_grows(log, bundle):
    log.close_batch()
    assert build_bundle(log, 3) == bundle
    assert build_bundle(log, 7)["tree_head"]["tree_size"] == 8


def test_record_not_yet_anchored_is_not_found(log):
    with pytest.raises(NotFoundError, match="log entry 7 is not anchored yet"):
        build_bundle(log, 7)


def test_index_outside_the_log_is_not_found(log):
    with pytest.raises(NotFoundError, match="record 8 does not exist"):
        build_bundle(log, 8)


def test_record_not_of_the_requested_kind_is_refused(log):
    with pytest.raises(InvalidInputError, match="not canonical JSON"):
        build_bundle(log, 6, JSON_RECORDS)


def _set(path: str, value):
    def tamper(bundle: dict) -> None:
        *parents, last = path.split(".")
        target = bundle
        for name in parents:
            target = target[name]
        target[last] = value

    return tamper


def _flip_proof_hash(bundle: dict) -> None:
    first = bundle["inclusion_proof"]["hashes"][0]
    bundle["inclusion_proof"]["hashes"][0] = first[:-1] + ("0" if first[-1] != "0" else "1")


def _forge_record_and_leaf(bundle: dict) -> None:
    bundle["record"]["celsius"] = -5
    bundle["leaf_hash"] = "0x" + hash_leaf(canonical_json(bundle["record"])).hex()


TAMPERINGS = {
    "record": (_set("record.celsius", 99), "leaf_hash", "the record was altered"),
    "leaf": (_set("leaf_hash", "0x" + "ab" * 32), "leaf_hash", "the record was altered"),
    "record_and_leaf": (_forge_record_and_leaf, "inclusion", "another root"),
    "proof_hash": (_flip_proof_hash, "inclusion", "another root"),
    "proof_index": (_set("inclusion_proof.leaf_index", 2), "inclusion", "another root"),
    "head_root": (_set("tree_head.root_hash", "0x" + "cd" * 32), "inclusion", "another root"),
    "head_size": (_set("tree_head.tree_size", 8), "format", "anchor is for tree size 7"),
    "head_timestamp": (_set("tree_head.timestamp", 1), "anchored_head", "the registry's head"),
    "head_signature": (_set("tree_head.signature", "0x" + "11" * 65), "signature", "invalid"),
    "anchor_chain": (_set("anchor.chain_id", 1), "chain", "anchored on chain 1"),
    "anchor_registry": (
        _set("anchor.registry", "0x" + "42" * 20),
        "chain",
        "not the AnchorRegistry",
    ),
    "anchor_block": (_set("anchor.block_number", 1), "anchored_head", "the bundle says 1"),
    "anchor_index": (_set("anchor.index", 5), "anchored_head", "index out of range"),
    "anchor_tx": (_set("anchor.tx_hash", "0x" + "99" * 32), "anchor_tx", "not on this chain"),
    "bundle_type": (_set("bundle_type", "x/v9"), "format", "bundle_type must be"),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_tampered_bundle_is_rejected_naming_the_check(bundle, registry, tampering):
    tamper, check, words = TAMPERINGS[tampering]
    tampered = copy.deepcopy(bundle)
    tamper(tampered)
    name, detail = failed(tampered, registry.chain)
    assert (name, words in detail) == (check, True), detail


def test_unknown_bundle_type_names_the_known_ones(bundle, registry):
    bundle["bundle_type"] = "x/v9"
    _, detail = failed(bundle, registry.chain)
    for kind in record_kinds():
        assert repr(kind.bundle_type) in detail


def test_a_verifier_can_accept_only_its_own_kind(bundle, registry):
    verdict = verify_bundle(bundle, registry.chain, kinds=(READING_KIND,))
    assert (
        verdict.reason
        == "format: bundle_type must be 'test.reading/v1', got 'ailedger.log.proof/v1'"
    )


def test_domain_kind_names_the_operator_it_checked(log, registry):
    verdict = verify_bundle(build_bundle(log, 2, READING_KIND), registry.chain)
    assert verdict.ok, verdict.reason
    assert (verdict.record_id, verdict.record["sensor"]) == ("t2", "t2")
    operator = next(check for check in verdict.checks if check.name == "operator")
    assert operator.detail == f"read by {registry.admin.address}, the log's admin"
    assert [check.name for check in verdict.checks][-2:] == ["reading_block", "identity"]


def test_domain_kind_chain_check_failing_is_named(log, registry):
    name, detail = failed(build_bundle(log, 4, READING_KIND), registry.chain)
    assert name == "reading_block"
    assert detail == "block 1000000000 does not exist on this chain"


def test_domain_kind_runs_its_own_checks_on_the_record(log, registry):
    bundle = build_bundle(log, 2, READING_KIND)
    bundle["record"]["celsius"] = 400
    name, detail = failed(bundle, registry.chain)
    assert (name, detail.startswith("implausible reading")) == ("record", True)


def test_record_logged_in_someone_elses_name_fails_the_operator_check(log, registry):
    """The outsider's reading is in the admin's log: only the admin can have logged it."""
    name, detail = failed(build_bundle(log, 5, READING_KIND), registry.chain)
    assert name == "operator"
    assert detail == (
        f"the record names operator {registry.other.address}, but the log belongs to "
        f"{registry.admin.address}: only the log's admin can log readings in its name"
    )


def test_a_bundle_type_cannot_be_taken_by_another_kind():
    other = RecordKind(READING_KIND.bundle_type, "other", json.loads, _check_reading)
    with pytest.raises(InvalidInputError, match="already registered"):
        register_record_kind(other)
    assert register_record_kind(READING_KIND) is READING_KIND


def test_pinned_operator_other_than_the_logs_admin_fails_identity(bundle, registry):
    pins = Pins.from_flags(operator=registry.other.address, registry=None)
    name, detail = failed(bundle, registry.chain, pins)
    assert name == "identity"
    assert f"operator {registry.admin.address}, pinned {registry.other.address}" in detail


def test_pinned_operator_and_registry_verify(bundle, registry):
    pins = Pins.from_flags(operator=registry.admin.address, registry=registry.contract.address)
    verdict = verify_bundle(bundle, registry.chain, pins)
    assert verdict.ok, verdict.reason
    assert "NOT pinned" not in verdict.checks[-1].detail


@given(st.binary(max_size=200))
def test_the_bundle_record_gives_back_exactly_the_logged_bytes(data):
    kind = generic_kind(data)
    assert kind.check(json.loads(json.dumps(kind.to_json(data)))).data == data


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=8,
    )
)
def test_canonical_json_records_travel_as_json(value):
    data = canonical_json(value)
    assert generic_kind(data) is JSON_RECORDS
    carried = json.loads(json.dumps(JSON_RECORDS.to_json(data)))  # as a stranger receives it
    assert JSON_RECORDS.check(carried).data == data


def test_record_kind_is_found_by_its_bundle_type():
    assert record_kind("test.reading/v1") is READING_KIND
    with pytest.raises(InvalidInputError, match="unknown bundle_type 'x/v9': expected one of"):
        record_kind("x/v9")


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(other=st.binary(max_size=64))
def test_any_other_record_bytes_fail_at_the_leaf_hash(log, registry, other):
    assume(other != RAW)
    bundle = build_bundle(log, 6)
    bundle["record"] = "0x" + other.hex()
    verdict = verify_bundle(bundle, registry.chain)
    assert (verdict.ok, verdict.checks[-1].name) == (False, "leaf_hash")
