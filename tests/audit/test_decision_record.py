"""Decision records, their canonical bytes and the salted input commitment."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from ailedger.audit.explain import Explanation
from ailedger.audit.record import (
    DecisionPolicy,
    DecisionRecord,
    commit_input,
    new_salt,
    prove_commitment,
)
from ailedger.core.identity import canonical_json
from ailedger.errors import InvalidInputError

INPUT = {"credit_amount": 1169, "housing": "own"}


def make_record(application=INPUT, salt=b"\x01" * 32, **changes) -> DecisionRecord:
    fields = dict(
        decision_id="aa" * 32,
        model_id="bb" * 32,
        model_card_hash="cc" * 32,
        input_commitment=commit_input(application, salt),
        score=0.8125,
        output="approve",
        policy=DecisionPolicy(threshold=0.6),
        explanation=Explanation(
            method="linear",
            output_space="log_odds",
            base_value=0.5,
            contributions={"credit_amount": 0.25, "housing": -0.125},
            top_features=("credit_amount", "housing"),
        ),
        decided_at=datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
        operator="0x" + "12" * 20,
    )
    fields.update(changes)
    return DecisionRecord(**fields)


def test_commitment_is_sha256_of_salt_and_canonical_input():
    salt = new_salt()
    expected = hashlib.sha256(salt + canonical_json(INPUT)).hexdigest()
    assert commit_input(INPUT, salt) == expected


def test_record_contains_no_raw_input_value():
    text = make_record().to_bytes().decode()
    assert "1169" not in text and '"own"' not in text


def test_subject_with_input_and_salt_proves_the_commitment():
    salt = new_salt()
    assert prove_commitment(INPUT, salt, make_record(salt=salt))


def test_commitment_proof_fails_with_another_salt():
    assert not prove_commitment(INPUT, new_salt(), make_record(salt=new_salt()))


def test_commitment_proof_fails_with_an_altered_input():
    salt = new_salt()
    altered = dict(INPUT, credit_amount=1170)
    assert not prove_commitment(altered, salt, make_record(salt=salt))


def test_commitment_rejects_short_salt():
    with pytest.raises(InvalidInputError, match="salt must be 32 bytes, got 4"):
        commit_input(INPUT, b"salt")


def test_record_bytes_are_canonical_json_and_parse_back():
    record = make_record()
    assert record.to_bytes() == canonical_json(json.loads(record.to_bytes()))
    assert DecisionRecord.from_bytes(record.to_bytes()) == record


def test_decision_time_is_written_in_utc():
    assert b'"decided_at":"2025-03-01T12:00:00Z"' in make_record().to_bytes()


def test_naive_decision_time_is_rejected():
    with pytest.raises(ValueError, match="timezone"):
        make_record(decided_at=datetime(2025, 3, 1))


def test_record_is_immutable():
    with pytest.raises(ValueError, match="frozen"):
        make_record().score = 0.1  # type: ignore[misc]


def test_malformed_record_names_the_bad_field():
    data = make_record().to_json_dict()
    data["score"] = 1.5
    with pytest.raises(InvalidInputError, match="score") as info:
        DecisionRecord.from_json_dict(data)
    assert info.value.field == "score"


def test_record_with_unknown_field_is_rejected():
    data = make_record().to_json_dict() | {"applicant_name": "Jane"}
    with pytest.raises(InvalidInputError, match="applicant_name"):
        DecisionRecord.from_json_dict(data)


def test_record_missing_a_field_is_rejected():
    data = make_record().to_json_dict()
    del data["input_commitment"]
    with pytest.raises(InvalidInputError, match="input_commitment"):
        DecisionRecord.from_json_dict(data)


def test_non_json_bytes_are_rejected():
    with pytest.raises(InvalidInputError, match="not JSON"):
        DecisionRecord.from_bytes(b"\xff{")


def test_non_canonical_bytes_are_rejected():
    pretty = json.dumps(make_record().to_json_dict(), indent=2).encode()
    with pytest.raises(InvalidInputError, match="not its canonical JSON"):
        DecisionRecord.from_bytes(pretty)


def test_policy_approves_at_and_above_the_threshold():
    policy = DecisionPolicy(threshold=0.6)
    assert (policy.outcome(0.6), policy.outcome(0.599999)) == ("approve", "deny")
