"""Proof bundles and their verification by a stranger with only chain access."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import vyper
from eth_account import Account

from ailedger import contracts
from ailedger.audit.audited import AuditedModel
from ailedger.audit.index import DecisionIndex
from ailedger.audit.proofs import build_proof_bundle
from ailedger.audit.verify import CHECKS, verify_bundle
from ailedger.core.chain import Contract, deploy
from ailedger.core.log import (
    Anchorer,
    SignedTreeHead,
    TransparencyLog,
    TreeHead,
    hash_leaf,
    open_store,
    registry_domain,
)
from ailedger.core.trust import KeyWindow, Pins, TrustedLog, TrustRoot, export_trust_root
from ailedger.errors import NotFoundError


@pytest.fixture
def decided(audited, applications, log):
    """Five decisions, anchored in one batch."""
    decisions = audited.decide(applications)
    log.close_batch()
    return decisions


@pytest.fixture
def bundle(decided, log, index) -> dict:
    return build_proof_bundle(decided[3].record.decision_id, log, index)


def failed(bundle: dict, chain) -> tuple[str, str]:
    verdict = verify_bundle(bundle, chain)
    assert not verdict.ok
    failing = next(check for check in verdict.checks if not check.ok)
    return failing.name, failing.detail


def test_bundle_of_an_anchored_decision_verifies(bundle, chain, decided):
    verdict = verify_bundle(bundle, chain)
    assert verdict.ok, verdict.reason
    assert [check.name for check in verdict.checks] == list(CHECKS)
    assert verdict.decision_id == decided[3].record.decision_id


def test_bundle_is_plain_json(bundle, chain):
    assert verify_bundle(json.loads(json.dumps(bundle)), chain).ok


def test_bundle_names_the_anchor_transaction(bundle, log):
    anchor = log.anchors()[-1]
    assert bundle["anchor"]["tx_hash"] == "0x" + anchor.tx_hash.hex()
    assert bundle["anchor"]["chain_id"] == 31337


def test_bundle_stays_valid_after_the_log_grows(decided, audited, applications, log, index, chain):
    audited.decide(applications)
    log.close_batch()
    bundle = build_proof_bundle(decided[0].record.decision_id, log, index)
    assert bundle["tree_head"]["tree_size"] == 5  # the first head that covers it
    assert verify_bundle(bundle, chain).ok


def test_unknown_decision_id_raises_not_found(decided, log, index):
    with pytest.raises(NotFoundError, match="no decision with id"):
        build_proof_bundle("ff" * 32, log, index)


def test_decision_not_yet_anchored_raises_not_found(audited, applications, log, index):
    decision = audited.decide(applications[:1])[0]
    with pytest.raises(NotFoundError, match="not anchored yet"):
        build_proof_bundle(decision.record.decision_id, log, index)


def test_altered_record_fails_at_the_leaf_hash(bundle, chain):
    bundle["record"]["explanation"]["top_features"] = ["housing"] * 5
    name, detail = failed(bundle, chain)
    assert name == "leaf_hash"
    assert "the record was altered" in detail


def test_altered_record_with_matching_leaf_hash_fails_inclusion(bundle, chain):
    bundle["record"]["input_commitment"] = "00" * 32
    from ailedger.audit.record import DecisionRecord

    record = DecisionRecord.from_json_dict(bundle["record"])
    bundle["leaf_hash"] = "0x" + hash_leaf(record.to_bytes()).hex()
    name, detail = failed(bundle, chain)
    assert name == "inclusion"
    assert "another root" in detail


def test_output_contradicting_the_policy_fails_the_record_check(bundle, chain):
    record = bundle["record"]
    record["output"] = "deny" if record["output"] == "approve" else "approve"
    name, detail = failed(bundle, chain)
    assert name == "record"
    assert "contradicts the record's policy" in detail


def test_malformed_record_names_the_field(bundle, chain):
    bundle["record"]["applicant_name"] = "Jane Doe"
    name, detail = failed(bundle, chain)
    assert (name, "applicant_name" in detail) == ("record", True)


def test_proof_for_another_tree_fails(bundle, decided, log, chain, audited, applications):
    audited.decide(applications)
    bundle["inclusion_proof"] = log.inclusion_proof(3, 10).to_dict()
    name, detail = failed(bundle, chain)
    assert name == "format"
    assert "another tree" in detail


def test_proof_of_another_leaf_fails_inclusion(bundle, log, chain):
    bundle["inclusion_proof"] = log.inclusion_proof(1, 5).to_dict()
    assert failed(bundle, chain)[0] == "inclusion"


def test_wrong_root_fails_inclusion(bundle, chain):
    bundle["tree_head"]["root_hash"] = "0x" + "ab" * 32
    name, detail = failed(bundle, chain)
    assert name == "inclusion"
    assert "leads to another root" in detail


def test_self_consistent_tree_that_was_never_anchored_fails(bundle, chain, accounts):
    # A forger builds a one-leaf tree of the record and signs it with the real log key:
    # everything checks out except that the chain never saw that head.
    head = TreeHead.from_dict(bundle["tree_head"])
    fake = TreeHead(head.log_id, 1, bytes.fromhex(bundle["leaf_hash"][2:]), head.timestamp)
    domain = registry_domain(31337, bundle["anchor"]["registry"])
    bundle["tree_head"] = fake.sign(accounts[1], domain).to_dict()
    bundle["inclusion_proof"] = {"leaf_index": 0, "tree_size": 1, "hashes": []}
    bundle["anchor"]["tree_size"] = 1
    name, detail = failed(bundle, chain)
    assert name == "anchored_head"
    assert "the registry's head #0 is (size 5" in detail


def test_forged_tree_head_signature_fails(bundle, chain):
    head = SignedTreeHead.from_dict(bundle["tree_head"]).head
    forger = Account.create()
    domain = registry_domain(31337, bundle["anchor"]["registry"])
    bundle["tree_head"] = head.sign(forger, domain).to_dict()
    name, detail = failed(bundle, chain)
    assert name == "signature"
    assert f"signed by {forger.address}" in detail


def test_garbled_signature_fails(bundle, chain):
    bundle["tree_head"]["signature"] = "0x" + "11" * 65
    assert failed(bundle, chain)[0] == "signature"


def test_bundle_for_another_chain_fails(bundle, chain):
    bundle["anchor"]["chain_id"] = 1
    name, detail = failed(bundle, chain)
    assert name == "chain"
    assert "anchored on chain 1, connected to chain 31337" in detail


def test_registry_address_without_contract_fails(bundle, chain):
    address = "0x" + "42" * 20
    bundle["anchor"]["registry"] = address
    name, detail = failed(bundle, chain)
    assert name == "chain"
    assert detail.startswith(f"the code at {address} is not the AnchorRegistry")
    assert detail.endswith("got no code at all")


def test_another_contract_named_as_the_registry_fails(bundle, chain, accounts):
    token = contracts.load("ALTToken")
    address = deploy(chain, token.abi, token.bytecode, sender=accounts[0]).address
    bundle["anchor"]["registry"] = address
    name, detail = failed(bundle, chain)
    assert name == "chain"
    assert detail.startswith(f"the code at {address} is not the AnchorRegistry: expected ")


def test_look_alike_registry_that_answers_every_question_right_fails(bundle, chain, accounts):
    """An outsider's own contract vouches for the operator's decision: caught by its code."""
    operator, _, outsider = accounts
    fake = _deploy_look_alike_registry(chain, outsider)
    head = SignedTreeHead.from_dict(bundle["tree_head"]).head
    index = bundle["anchor"]["index"]
    receipt = fake.forge(
        head.log_id,
        operator.address,
        outsider.address,
        index,
        head.tree_size,
        head.root_hash,
        head.timestamp,
        sender=outsider,
    )
    bundle["tree_head"] = head.sign(outsider, registry_domain(31337, fake.address)).to_dict()
    bundle["anchor"].update(
        registry=fake.address,
        tx_hash="0x" + receipt.tx_hash.hex(),
        block_number=receipt.block_number,
    )
    name, detail = failed(bundle, chain)
    assert name == "chain"
    assert detail.startswith(f"the code at {fake.address} is not the AnchorRegistry")


def test_unknown_anchor_transaction_fails(bundle, chain):
    bundle["anchor"]["tx_hash"] = "0x" + "99" * 32
    name, detail = failed(bundle, chain)
    assert name == "anchor_tx"
    assert "not on this chain" in detail


def test_anchor_transaction_of_something_else_fails(bundle, chain, registry):
    bundle["anchor"]["tx_hash"] = "0x" + registry.deploy_receipt.tx_hash.hex()
    name, detail = failed(bundle, chain)
    assert name == "anchor_tx"
    assert "did not anchor head #0" in detail


def test_head_index_beyond_the_registry_fails(bundle, chain):
    bundle["anchor"]["index"] = 7
    name, detail = failed(bundle, chain)
    assert name == "anchored_head"
    assert "index out of range" in detail


@pytest.mark.parametrize("field", ["record", "leaf_hash", "inclusion_proof", "tree_head", "anchor"])
def test_missing_field_fails_format(bundle, chain, field):
    del bundle[field]
    name, detail = failed(bundle, chain)
    assert (name, detail) == ("format", f"missing field {field!r}")


def test_wrong_bundle_type_fails_format(bundle, chain):
    bundle["bundle_type"] = "something/v9"
    assert failed(bundle, chain)[0] == "format"


def test_non_object_bundle_fails_format(chain):
    verdict = verify_bundle([1, 2], chain)  # type: ignore[arg-type]
    assert (verdict.ok, verdict.checks[0].name) == (False, "format")


def test_malformed_leaf_hash_fails_format(bundle, chain):
    bundle["leaf_hash"] = "0x1234"
    name, detail = failed(bundle, chain)
    assert (name, detail) == ("format", "leaf_hash must be 32 bytes, got 2")


def test_heads_signed_before_a_key_rotation_stay_valid(bundle, chain, registry, accounts):
    log_id = bytes.fromhex(bundle["tree_head"]["log_id"][2:])
    registry.set_signer(log_id, accounts[2].address, sender=accounts[0])
    assert verify_bundle(bundle, chain).ok


def test_verdict_serializes_with_its_reason(bundle, chain):
    broken = copy.deepcopy(bundle)
    broken["anchor"]["chain_id"] = 5
    data = json.loads(json.dumps(verify_bundle(broken, chain).to_dict()))
    assert data["ok"] is False
    assert data["reason"].startswith("chain: the bundle is anchored on chain 5")


def test_decision_logged_by_someone_else_in_the_operators_name_fails(
    trained, registry, accounts, applications, chain, settings, tmp_path
):
    """An outsider runs their own log in the genuine registry and names the operator."""
    operator, _, outsider = accounts
    # The record claims the real operator decided.
    bundle = _bundle_from_outsiders_log(
        trained, registry, applications, outsider, operator, settings, tmp_path
    )
    name, detail = failed(bundle, chain)
    assert name == "operator"
    assert f"names operator {operator.address}, but the log belongs to {outsider.address}" in (
        detail
    )


def test_verdict_names_the_operator_as_the_logs_admin(bundle, chain, accounts):
    verdict = verify_bundle(bundle, chain)
    operator_check = next(check for check in verdict.checks if check.name == "operator")
    assert operator_check.detail == f"decided by {accounts[0].address}, the log's admin"


def _deploy_look_alike_registry(chain, sender) -> Contract:
    source = (Path(__file__).parent / "look_alike_registry.vy").read_text()
    output = vyper.compile_code(source, output_formats=["abi", "bytecode"])
    return deploy(chain, output["abi"], output["bytecode"], sender=sender)


@pytest.fixture
def foreign_bundle(trained, registry, accounts, applications, settings, tmp_path) -> dict:
    """Issue 11 item 2: an outsider's own log in the genuine registry, its own operator
    throughout, reusing the real model: every check of the bundle holds."""
    outsider = accounts[2]
    return _bundle_from_outsiders_log(
        trained, registry, applications, outsider, outsider, settings, tmp_path
    )


def _bundle_from_outsiders_log(
    trained, registry, applications, outsider, operator, settings, tmp_path
) -> dict:
    """A bundle of one decision in ``outsider``'s own log in the genuine registry, whose
    record names ``operator``."""
    anchorer = Anchorer.register(registry, "decisions", admin=outsider, signer=outsider)
    own_log = TransparencyLog(open_store(settings, name="outsider"), anchorer=anchorer)
    with DecisionIndex(tmp_path / "outsider.sqlite3") as own_index:
        audited = AuditedModel(
            trained.estimator,
            trained.card,
            own_log,
            operator=operator,
            threshold=0.6,
            index=own_index,
        )
        decision = audited.decide(applications[:1])[0]
        own_log.close_batch()
        bundle = build_proof_bundle(decision.record.decision_id, own_log, own_index)
    own_log.close()
    return bundle


def test_foreign_operator_bundle_without_pins_verifies_but_says_not_pinned(
    foreign_bundle, chain, accounts
):
    verdict = verify_bundle(foreign_bundle, chain)
    assert verdict.ok, verdict.reason
    identity = next(check for check in verdict.checks if check.name == "identity")
    assert identity.detail.startswith("identity NOT pinned")
    assert f"operator {accounts[2].address}" in identity.detail


def test_foreign_operator_bundle_fails_with_the_operator_pinned(foreign_bundle, chain, accounts):
    # Before: there was no way to pin the operator, and this bundle said VERIFIED.
    pins = Pins.from_flags(operator=accounts[0].address, registry=None)
    verdict = verify_bundle(foreign_bundle, chain, pins)
    assert not verdict.ok
    assert verdict.reason.startswith("identity: identity differs from command-line pins")
    assert f"operator {accounts[2].address}, pinned {accounts[0].address}" in verdict.reason


def test_foreign_operator_bundle_fails_against_the_operators_trust_root(
    foreign_bundle, bundle, chain, registry, accounts
):
    own_log = Anchorer(registry, bytes.fromhex(bundle["tree_head"]["log_id"][2:]))
    root = export_trust_root(accounts[0], {"decisions": own_log})
    pins = Pins.from_trust_root(TrustRoot.from_dict(root.to_dict()), "trust root")
    assert verify_bundle(bundle, chain, pins).ok
    verdict = verify_bundle(foreign_bundle, chain, pins)
    assert not verdict.ok and "identity differs from trust root" in verdict.reason


def test_bundle_signed_by_an_unpinned_signer_fails(bundle, chain, registry, accounts):
    log_id = bytes.fromhex(bundle["tree_head"]["log_id"][2:])
    root = TrustRoot(
        chain.chain_id,
        registry.address,
        KeyWindow(accounts[0].address),
        (TrustedLog("decisions", log_id, (KeyWindow(accounts[2].address),)),),
    )
    verdict = verify_bundle(bundle, chain, Pins.from_trust_root(root, "trust root"))
    assert not verdict.ok and "is not a pinned signer then" in verdict.reason


def _bundle_as_the_old_code_wrote_it(leaf_index: int, log) -> dict:
    """``build_proof_bundle`` before the one proof format (commit ab7953f), verbatim but
    for finding the covering head: the log here has exactly one anchored head."""
    from ailedger.audit.record import DecisionRecord

    record = DecisionRecord.from_bytes(log.record(leaf_index))
    (signed,), (anchor,) = log.heads(), log.anchors()
    return {
        "bundle_type": "ailedger.audit.proof/v1",
        "record": record.to_json_dict(),
        "leaf_hash": "0x" + log.leaf_hash(leaf_index).hex(),
        "inclusion_proof": log.inclusion_proof(leaf_index, signed.head.tree_size).to_dict(),
        "tree_head": signed.to_dict(),
        "anchor": anchor.to_dict(),
    }


def test_bundle_written_by_the_old_code_still_verifies(decided, log, index, chain):
    decision = decided[3]
    old = _bundle_as_the_old_code_wrote_it(decision.leaf_index, log)
    old_text = json.dumps(old, indent=2) + "\n"  # as `audit proof` wrote it to a file
    verdict = verify_bundle(json.loads(old_text), chain)
    assert verdict.ok, verdict.reason
    assert verdict.decision_id == decision.record.decision_id
    new = build_proof_bundle(decision.record.decision_id, log, index)
    assert json.dumps(new, indent=2) + "\n" == old_text  # byte for byte the same file


def test_bundle_written_before_heads_had_key_epochs_still_verifies(bundle, chain):
    # main's `audit proof` writes tree heads without "key_epoch" (epoch 0 then).
    del bundle["tree_head"]["key_epoch"]
    verdict = verify_bundle(json.loads(json.dumps(bundle)), chain)
    assert verdict.ok, verdict.reason


def test_decision_bundle_verifies_with_the_record_kind_agnostic_verifier(bundle, chain):
    from ailedger.core.log import bundle as proof_bundle

    verdict = proof_bundle.verify_bundle(bundle, chain)
    assert verdict.ok, verdict.reason
    assert verdict.bundle_type == "ailedger.audit.proof/v1"
    assert verdict.record.decision_id == verdict.record_id == bundle["record"]["decision_id"]
