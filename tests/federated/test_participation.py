"""Screening replies: honest updates pass; each kind of bad update is rejected with its reason."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from eth_account import Account
from flwr.app import Error, Message, MetricRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger.federated.apps import Hospital, client_app, local_update, signed_reply
from ailedger.federated.commitments import COMMITMENT_KEY, UpdateCommitment
from ailedger.federated.encoding import to_record
from ailedger.federated.participation import screen
from tests.federated.conftest import node_context


def _reply(hospital: Hospital, model, train_message, node_id: int = 2, **kwargs) -> Message:
    message = train_message(node_id)
    arrays = local_update(hospital, model, model.initial())
    return signed_reply(message, hospital, arrays, **kwargs)


def _reason(replies, round_context) -> str:
    accepted, rejected = screen(replies, round_context)
    assert accepted == [] and len(rejected) == 1
    return rejected[0].reason


def test_an_honest_update_from_the_client_app_is_accepted(
    hospitals, model, train_message, round_context
):
    reply = client_app(hospitals[0], model)(train_message(2), node_context(2))
    accepted, rejected = screen([reply], round_context)
    assert rejected == []
    (only,) = accepted
    assert only.commitment.client == hospitals[0].account.address
    assert only.record()["status"] == "accepted"


def test_an_unregistered_client_is_rejected(hospitals, model, train_message, round_context):
    stranger = dataclasses.replace(hospitals[0], account=Account.from_key(b"\x09" * 32))
    assert _reason([_reply(stranger, model, train_message)], round_context) == (
        "unregistered client"
    )


def test_arrays_changed_after_signing_are_a_commitment_mismatch(
    hospitals, model, train_message, round_context
):
    reply = _reply(hospitals[0], model, train_message)
    arrays = reply.content["arrays"].to_numpy_ndarrays()
    arrays[0] = arrays[0] + 1e-9
    reply.content["arrays"] = to_record(arrays)
    assert _reason([reply], round_context).startswith("commitment mismatch: update hash")


def test_a_lie_about_the_number_of_examples_is_a_commitment_mismatch(
    hospitals, model, train_message, round_context
):
    reply = _reply(hospitals[0], model, train_message)
    reply.content["metrics"] = MetricRecord({"num-examples": 10_000})
    assert _reason([reply], round_context).startswith("commitment mismatch: num-examples")


def test_a_wrong_shape_is_rejected(hospitals, model, train_message, round_context):
    message = train_message(2)
    reply = signed_reply(message, hospitals[0], [np.zeros((2, 3)), np.zeros(2)])
    assert _reason([reply], round_context).startswith("wrong shape")


def test_a_nan_update_is_rejected(hospitals, model, train_message, round_context):
    arrays = model.initial()
    arrays[1][0] = np.nan
    reply = signed_reply(train_message(2), hospitals[0], arrays)
    assert _reason([reply], round_context).startswith("not finite")


def test_a_signature_by_another_key_is_rejected(hospitals, model, train_message, round_context):
    reply = _reply(hospitals[0], model, train_message)
    commitment = UpdateCommitment.from_record(reply.content[COMMITMENT_KEY])
    forged = dataclasses.replace(commitment, client=hospitals[1].account.address)
    reply.content[COMMITMENT_KEY] = forged.to_record()
    assert _reason([reply], round_context).startswith(
        f"signed by another key: {hospitals[0].account.address}"
    )


def test_a_late_update_for_another_round_is_rejected(
    hospitals, model, train_message, round_context
):
    reply = _reply(hospitals[0], model, train_message, round_number=0)
    assert _reason([reply], round_context) == "late: committed to round 0 in round 1"


def test_a_duplicate_update_is_rejected_and_the_first_kept(
    hospitals, model, train_message, round_context
):
    first = _reply(hospitals[0], model, train_message, node_id=2)
    again = _reply(hospitals[0], model, train_message, node_id=3)
    accepted, rejected = screen([first, again], round_context)
    assert [a.node_id for a in accepted] == [2]
    assert [(r.node_id, r.reason) for r in rejected] == [(3, "duplicate update in this round")]


def test_a_client_error_and_a_missing_commitment_are_rejected(
    hospitals, model, train_message, round_context
):
    failed = Message(Error(code=1, reason="out of memory"), reply_to=train_message(2))
    bare = _reply(hospitals[0], model, train_message, node_id=3)
    del bare.content[COMMITMENT_KEY]
    _, rejected = screen([failed, bare], round_context)
    assert [r.reason for r in rejected] == ["client error: out of memory", "no commitment"]


def test_the_round_goes_on_with_the_others(hospitals, model, train_message, round_context):
    good = _reply(hospitals[1], model, train_message, node_id=2)
    bad = _reply(hospitals[0], model, train_message, node_id=3, round_number=5)
    accepted, rejected = screen([bad, good], round_context)
    assert [a.node_id for a in accepted] == [2] and [r.node_id for r in rejected] == [3]
    assert rejected[0].record(7, 1)["status"] == "rejected"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    layer=st.integers(0, 1),
    position=st.integers(0, 29),
    delta=st.floats(min_value=-1e3, max_value=1e3, allow_nan=False).filter(lambda d: d != 0),
)
def test_any_change_to_a_signed_update_is_rejected(
    hospitals, model, train_message, round_context, layer, position, delta
):
    reply = _reply(hospitals[0], model, train_message)
    arrays = reply.content["arrays"].to_numpy_ndarrays()
    flat = arrays[layer].reshape(-1)
    flat[position % flat.size] += delta
    if np.array_equal(arrays[layer], reply.content["arrays"].to_numpy_ndarrays()[layer]):
        return  # delta below the value's precision: nothing changed
    reply.content["arrays"] = to_record(arrays)
    accepted, rejected = screen([reply], round_context)
    assert accepted == [] and rejected[0].reason.startswith("commitment mismatch")


@pytest.mark.parametrize("field", ["client", "signature", "update-hash"])
def test_a_malformed_commitment_names_its_field(
    hospitals, model, train_message, round_context, field
):
    reply = _reply(hospitals[0], model, train_message)
    record = reply.content[COMMITMENT_KEY]
    record[field] = 12345
    assert _reason([reply], round_context).startswith(f"malformed commitment: commitment.{field}")
