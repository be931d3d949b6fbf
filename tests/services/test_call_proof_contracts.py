"""verify_call_proof trusts only our registries' code, and heads survive a key rotation."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from ailedger import contracts
from ailedger.core.chain import Contract, deploy
from ailedger.core.log import (
    Anchorer,
    SignedTreeHead,
    TransparencyLog,
    open_store,
    registry_domain,
)
from ailedger.core.trust import IdentityMismatchError, Pins
from ailedger.errors import IntegrityError
from ailedger.platform import LOG_SIGNER_KEY
from ailedger.services import ModelRegistryClient, verify_call_proof
from tests.services.conftest import FUNDING_WEI

NO_CODE = "0x" + "5a" * 20


@pytest.fixture
def proof(client, services, host) -> dict:
    """A stranger's copy (plain JSON) of the proof of one paid call."""
    listing = client.discover("diagnosis")
    call = client.call(listing, services.model.examples[0])
    host.anchor_now()  # the operator anchors (GET /proofs never does)
    return json.loads(json.dumps(client.proof(listing, call)))


def _anchor_registry(services, proof) -> Contract:
    chain = services.platform.chain
    return Contract(chain, proof["anchor"]["registry"], contracts.load("AnchorRegistry").abi)


def _verify(services, proof, registry=None):
    return verify_call_proof(
        proof, services.platform.chain, registry or services.contracts.registry
    )


@pytest.mark.parametrize("address", ["token", NO_CODE])
def test_proof_naming_another_anchor_registry_fails(services, proof, address):
    address = services.contracts.token.address if address == "token" else address
    proof["anchor"]["registry"] = address
    with pytest.raises(IntegrityError, match=f"anchored in the AnchorRegistry at {address}"):
        _verify(services, proof)


def test_proof_anchored_in_a_private_anchor_registry_with_the_same_log_id_fails(services):
    """Our AnchorRegistry code, deployed privately, where the operator registers a log of
    the same name (so the same log id) and anchors calls the public log never sees."""
    platform = services.platform
    artifact = contracts.load("AnchorRegistry")
    shadow = deploy(platform.chain, artifact.abi, artifact.bytecode, sender=platform.operator)
    signer = platform.account(LOG_SIGNER_KEY, create=True)
    anchorer = Anchorer.register(shadow, "calls_diagnosis", admin=platform.operator, signer=signer)
    assert anchorer.log_id == services.listing.log_id
    log = TransparencyLog(open_store(platform.settings, name="shadow_calls"), anchorer=anchorer)
    host = services.host(log=log)
    try:
        client = services.client(host)
        listing = client.discover("diagnosis")
        call = client.call(listing, services.model.examples[0])
        host.anchor_now()  # the operator anchors (GET /proofs never does)
        proof = json.loads(json.dumps(client.proof(listing, call)))
    finally:
        host.close()
    assert proof["anchor"]["registry"] == shadow.address
    with pytest.raises(IntegrityError, match="binds diagnosis to a log of the one at") as error:
        _verify(services, proof)
    assert error.value.field == "anchor.registry"


def test_model_registry_that_is_the_token_is_not_trusted_for_listings(services, proof):
    chain = services.platform.chain
    abi = contracts.load("ModelRegistry").abi
    fake = ModelRegistryClient(Contract(chain, services.contracts.token.address, abi))
    with pytest.raises(IntegrityError, match="is not the ModelRegistry") as error:
        _verify(services, proof, fake)
    assert error.value.field == "registry"


def test_model_registry_address_without_code_is_not_trusted(services, proof):
    abi = contracts.load("ModelRegistry").abi
    fake = ModelRegistryClient(Contract(services.platform.chain, NO_CODE, abi))
    with pytest.raises(IntegrityError, match=r"is not the ModelRegistry.*no code at all"):
        _verify(services, proof, fake)


def test_proof_made_before_a_signer_rotation_still_verifies(services, proof):
    platform = services.platform
    new_signer = platform.account("rotated-log-signer", create=True, fund_wei=FUNDING_WEI)
    log_id = bytes.fromhex(proof["tree_head"]["log_id"].removeprefix("0x"))
    anchors = _anchor_registry(services, proof)
    anchors.set_signer(log_id, new_signer.address, sender=platform.operator)
    assert anchors.log_signer(log_id) == new_signer.address
    report = _verify(services, proof)
    assert report.tree_size == proof["tree_head"]["tree_size"]


def test_head_re_signed_by_a_key_rotated_in_after_the_anchor_fails(services, proof):
    platform = services.platform
    new_signer = platform.account("rotated-log-signer", create=True, fund_wei=FUNDING_WEI)
    signed = SignedTreeHead.from_dict(proof["tree_head"])
    log_id = signed.head.log_id
    anchors = _anchor_registry(services, proof)
    anchors.set_signer(log_id, new_signer.address, sender=platform.operator)
    domain = registry_domain(platform.chain.chain_id, anchors.address)
    proof["tree_head"] = signed.head.sign(new_signer, domain).to_dict()
    with pytest.raises(IntegrityError, match="tree head signature") as error:
        _verify(services, proof)
    assert error.value.field == "tree_head"


def test_call_proof_of_the_pinned_operator_verifies_and_names_it(services, proof):
    operator = services.platform.operator.address
    report = verify_call_proof(
        proof,
        services.platform.chain,
        services.contracts.registry,
        pins=Pins.from_flags(operator=operator, registry=proof["anchor"]["registry"]),
    )
    assert report.identity.operator == operator


def test_call_proof_fails_against_another_pinned_operator(services, proof):
    other = "0x" + "77" * 20
    with pytest.raises(IdentityMismatchError, match="pinned 0x7777"):
        verify_call_proof(
            proof,
            services.platform.chain,
            services.contracts.registry,
            pins=Pins.from_flags(operator=other, registry=None),
        )


def test_proof_from_a_private_log_is_refused(services):
    """A service recording calls in a log other than the one its listing is bound to."""
    log = services.platform.open_log("private_calls")
    bound = services.contracts.registry.get(services.listing.model_id)
    claimed = replace(bound, log_id=log.anchorer.log_id)
    private = services.host(listing=claimed, log=log)
    try:
        client = services.client(private)
        with pytest.raises(IntegrityError, match="log_id does not match"):
            client.call(bound, services.model.examples[0])  # the consumer's own check
        # A consumer told the service's version of the listing gets a proof, which fails.
        call = client.call(claimed, services.model.examples[1])
        private.anchor_now()  # the operator anchors (GET /proofs never does)
        proof = json.loads(json.dumps(client.proof(claimed, call)))
    finally:
        private.close()
    with pytest.raises(IntegrityError, match="binds diagnosis to log") as error:
        _verify(services, proof)
    assert error.value.field == "log_id"


def test_host_refuses_to_record_calls_outside_the_bound_log(services):
    with pytest.raises(IntegrityError, match="binds diagnosis to log"):
        services.host(log=services.platform.open_log("private_calls"))


DEEP_RECORD = """
import ailedger.core.chain  # raises the recursion limit, as in `ailedger serve`
from ailedger.errors import InvalidInputError
from ailedger.services import verify_call_proof

proof = {"record": "[" * 200_000 + "]" * 200_000, "log_index": 0}
try:
    verify_call_proof(proof, chain=None, registry=None)
except InvalidInputError as error:
    print(error.message)
"""


def test_a_deeply_nested_record_is_refused_without_crashing():
    """A proof's record is a JSON string parsed again: anyone may post one to
    /services/proofs/verify, and it used to overflow the C stack."""
    result = subprocess.run(
        [sys.executable, "-c", DEEP_RECORD], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-500:]
    assert "record nested deeper than 32 levels" in result.stdout
