"""`ailedger audit proof | verify | export` on a data dir with anchored decisions."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ailedger import contracts
from ailedger.audit.audited import AuditedModel
from ailedger.audit.credit import train_credit_model
from ailedger.audit.german_credit import MODEL_FEATURES, load_german_credit
from ailedger.audit.scenario import open_decision_index
from ailedger.cli.audit import app
from ailedger.core.chain import EmbeddedChain, deploy, dev_accounts
from ailedger.core.log import (
    Anchorer,
    TransparencyLog,
    open_store,
    promise_for,
    promise_inclusion,
)
from ailedger.errors import InvalidInputError, NotFoundError

runner = CliRunner()


@pytest.fixture(scope="module")
def trained():
    return train_credit_model()


def _anchored_log(settings, monkeypatch) -> tuple[EmbeddedChain, TransparencyLog]:
    """The data dir the CLI reads: a chain with an AnchorRegistry and the log `decisions`."""
    monkeypatch.setenv("AILEDGER_HOME", str(settings.home))
    monkeypatch.delenv("AILEDGER_CHAIN_URL", raising=False)
    monkeypatch.delenv("AILEDGER_DATABASE_URL", raising=False)
    admin, signer = dev_accounts(2)
    chain = EmbeddedChain(settings.chain_dir)
    artifact = contracts.load("AnchorRegistry")
    registry = deploy(chain, artifact.abi, artifact.bytecode, sender=admin)
    anchorer = Anchorer.register(registry, "decisions", admin=admin, signer=signer)
    return chain, TransparencyLog(open_store(settings), anchorer=anchorer)


@pytest.fixture
def decision_ids(settings, trained, monkeypatch) -> list[str]:
    """Three decisions of 2025-03-01 logged and anchored in the data dir the CLI reads."""
    from datetime import UTC, datetime

    chain, log = _anchored_log(settings, monkeypatch)
    admin = dev_accounts(1)[0]
    applications = load_german_credit().features[list(MODEL_FEATURES)].iloc[:3]
    with open_decision_index(settings) as index:
        audited = AuditedModel(
            trained.estimator,
            trained.card,
            log,
            operator=admin,
            threshold=0.6,
            index=index,
            clock=lambda: datetime(2025, 3, 1, 12, tzinfo=UTC),
        )
        decisions = audited.decide(applications)
    log.close_batch()
    log.close()
    chain.close()
    return [d.record.decision_id for d in decisions]


def test_proof_writes_a_bundle(decision_ids, tmp_path):
    out = tmp_path / "proof.json"
    result = runner.invoke(app, ["proof", decision_ids[1], "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["record"]["decision_id"] == decision_ids[1]


def test_verify_prints_verified_for_a_good_bundle(decision_ids, tmp_path):
    out = tmp_path / "proof.json"
    runner.invoke(app, ["proof", decision_ids[0], "-o", str(out)])
    result = runner.invoke(app, ["verify", str(out)])
    assert result.exit_code == 0, result.output
    assert f"VERIFIED: decision {decision_ids[0]}" in result.output


def test_verify_fails_with_the_reason_for_a_tampered_bundle(decision_ids, tmp_path):
    out = tmp_path / "proof.json"
    runner.invoke(app, ["proof", decision_ids[0], "-o", str(out)])
    bundle = json.loads(out.read_text())
    bundle["record"]["score"] = 0.999999
    bundle["record"]["output"] = "approve"
    out.write_text(json.dumps(bundle))
    result = runner.invoke(app, ["verify", str(out)])
    assert result.exit_code == 1
    assert "NOT VERIFIED: leaf_hash: the record was altered" in result.output


def test_proof_of_unknown_decision_is_a_not_found_error(decision_ids, tmp_path):
    result = runner.invoke(app, ["proof", "ab" * 32, "-o", str(tmp_path / "p.json")])
    assert isinstance(result.exception, NotFoundError)
    assert not (tmp_path / "p.json").exists()


def test_verify_of_a_non_json_file_is_an_input_error(decision_ids, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    result = runner.invoke(app, ["verify", str(bad)])
    assert isinstance(result.exception, InvalidInputError)
    assert "is not JSON" in result.exception.message


def test_export_writes_one_line_per_decision(decision_ids, tmp_path):
    out = tmp_path / "decisions.jsonl"
    args = ["export", "--since", "2025-03-01", "--until", "2025-03-02", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["decision_id"] for line in lines] == decision_ids
    assert all(line["proof"] is not None for line in lines)


def test_export_of_an_empty_period_writes_nothing(decision_ids, tmp_path):
    out = tmp_path / "decisions.jsonl"
    args = ["export", "--since", "2025-04-01", "--until", "2025-04-02", "-o", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    assert out.read_text() == ""


@pytest.fixture
def promise_files(settings, monkeypatch, tmp_path) -> tuple:
    """Two promises of an anchored log: leaf 0 (anchored in time) and leaf 2 (never
    anchored, its deadline passed)."""
    monkeypatch.setenv("AILEDGER_PASSWORD", settings.password)  # the checker signs evidence
    monkeypatch.setenv("AILEDGER_KEYSTORE_SCRYPT_N", str(settings.keystore_scrypt_n))
    chain, log = _anchored_log(settings, monkeypatch)
    anchorer = log.anchorer
    first = log.append_many([b"decision 0", b"decision 1"])[0]
    kept = promise_for(log, first)
    log.close_batch()
    chain_ms = chain.get_block(chain.block_number()).timestamp * 1000
    expired = promise_inclusion(
        anchorer, log.append(b"decision 2"), 60_000, now_ms=chain_ms - 120_000
    )
    log.close()
    chain.close()
    paths = []
    for name, signed in (("kept", kept), ("expired", expired)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(signed.to_dict()))
        paths.append(path)
    return tuple(paths)


def test_check_promise_of_an_anchored_leaf_is_kept(promise_files):
    result = runner.invoke(app, ["check-promise", str(promise_files[0])])
    assert result.exit_code == 0, result.output
    assert "promise kept: leaf 0 is covered by head #0" in result.output


def test_check_promise_past_its_deadline_writes_signed_evidence(promise_files, tmp_path):
    out = tmp_path / "evidence.json"
    result = runner.invoke(app, ["check-promise", str(promise_files[1]), "--evidence", str(out)])
    assert result.exit_code == 1, result.output
    assert "promise BROKEN: no anchored head covers leaf 2" in result.output
    document = json.loads(out.read_text())
    assert document["type"] == "ailedger.broken-promise-evidence/v1"
    assert document["promise"] == json.loads(promise_files[1].read_text())
    assert document["signature"].startswith("0x")
