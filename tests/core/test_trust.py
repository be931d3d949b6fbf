"""Trust roots: signed by their operator, any change refused; pins name what differs."""

from __future__ import annotations

import copy

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from ailedger.core.trust import (
    IdentityMismatchError,
    KeyWindow,
    LogIdentity,
    Pins,
    TrustedLog,
    TrustRoot,
    describe_identity,
)
from ailedger.errors import IntegrityError, InvalidInputError

OPERATOR = Account.from_key(b"\x05" * 32)
SIGNER = Account.from_key(b"\x06" * 32)
REGISTRY = "0x" + "ab" * 20
LOG_ID = b"\x11" * 32
ROOT = TrustRoot(
    31337,
    "0x" + "AB" * 20,
    KeyWindow(OPERATOR.address),
    (
        TrustedLog(
            "decisions", LOG_ID, (KeyWindow(SIGNER.address, 3, 9), KeyWindow(OPERATOR.address, 10))
        ),
    ),
).signed(OPERATOR)
IDENTITY = LogIdentity(31337, ROOT.registry, LOG_ID, OPERATOR.address, ((5, SIGNER.address),))


def test_signed_trust_root_round_trips_through_json():
    assert TrustRoot.from_dict(copy.deepcopy(ROOT.to_dict())) == ROOT


def test_trust_root_signed_by_another_key_is_refused():
    other = TrustRoot(ROOT.chain_id, ROOT.registry, KeyWindow(SIGNER.address), ROOT.logs).signed(
        SIGNER
    )
    data = other.to_dict()
    data["operator"]["address"] = OPERATOR.address
    with pytest.raises(IntegrityError, match="not by its operator"):
        TrustRoot.from_dict(data)


def test_only_the_operator_can_sign_its_trust_root():
    with pytest.raises(InvalidInputError, match="names operator"):
        TrustRoot(ROOT.chain_id, ROOT.registry, ROOT.operator, ROOT.logs).signed(SIGNER)


@given(st.sampled_from(["chain_id", "registry", "operator", "log_id", "signer", "from_block"]))
def test_any_change_to_a_signed_trust_root_is_refused(field):
    data = copy.deepcopy(ROOT.to_dict())
    log = data["logs"][0]
    change = {
        "chain_id": lambda: data.update(chain_id=1),
        "registry": lambda: data.update(registry="0x" + "cd" * 20),
        "operator": lambda: data["operator"].update(address=SIGNER.address),
        "log_id": lambda: log.update(log_id="0x" + "22" * 32),
        "signer": lambda: log["signers"][0].update(address=OPERATOR.address),
        "from_block": lambda: log["signers"][0].update(from_block=0),
    }
    change[field]()
    with pytest.raises(IntegrityError):
        TrustRoot.from_dict(data)


def test_pins_from_the_trust_root_accept_its_identity():
    Pins.from_trust_root(ROOT, "root").check(IDENTITY)


def test_signer_outside_its_validity_window_is_refused():
    late = LogIdentity(31337, ROOT.registry, LOG_ID, OPERATOR.address, ((10, SIGNER.address),))
    with pytest.raises(IdentityMismatchError, match=r"at block 10 is not a pinned signer"):
        Pins.from_trust_root(ROOT, "root").check(late)


def test_flag_pins_name_each_field_that_differs():
    pins = Pins.from_flags(operator=SIGNER.address, registry=REGISTRY, log_ids=["0x" + "33" * 32])
    with pytest.raises(IdentityMismatchError) as caught:
        pins.check(IDENTITY)
    assert f"operator {OPERATOR.address}, pinned {SIGNER.address}" in caught.value.message
    assert "log 0x1111" in caught.value.message


def test_no_flags_means_no_pins_and_the_output_says_so():
    assert Pins.from_flags(operator=None, registry=None) is None
    assert describe_identity(None, IDENTITY).startswith("identity NOT pinned")


def test_malformed_pin_is_an_input_error():
    with pytest.raises(InvalidInputError, match="operator: expected a 0x address"):
        Pins.from_flags(operator="alice", registry=None)


def test_trust_root_with_a_negative_chain_id_names_the_field():
    data = copy.deepcopy(ROOT.to_dict())
    data["chain_id"] = -1
    with pytest.raises(InvalidInputError, match="chain_id: expected a non-negative integer"):
        TrustRoot.from_dict(data)
