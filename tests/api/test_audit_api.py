"""The audit API: score and log decisions, fetch their proofs, verify bundles.

A template data dir (contracts deployed, the credit model trained and stored) is
built once per module; each test works on its own copy of it.
"""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from ailedger.api import create_app
from ailedger.api.audit import AuditOptions, AuditService
from ailedger.audit import (
    AuditedModel,
    DecisionRecord,
    load_german_credit,
    open_decision_index,
    prove_commitment,
)
from ailedger.audit.german_credit import MODEL_FEATURES
from ailedger.audit.listing import open_decision_reader
from ailedger.audit.model_store import open_model_store, served_credit_model
from ailedger.config import Settings
from ailedger.core.log import Anchorer, BatchPolicy, SignedPromise, TransparencyLog, open_store
from ailedger.platform import Platform

TOKEN = "s3cret"
WRITER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def template_home(tmp_path_factory):
    settings = Settings(
        home=tmp_path_factory.mktemp("audit-api") / "home",
        keystore_scrypt_n=2**4,
        password="test-password",
    )
    with Platform.open(settings) as platform:
        platform.deploy_core_contracts()
    served_credit_model(settings)
    return settings.home


@pytest.fixture
def audit_settings(template_home, settings) -> Settings:
    shutil.copytree(template_home, settings.home)
    return settings.model_copy(update={"api_token": TOKEN})


@contextmanager
def _client(settings: Settings, options: AuditOptions) -> Iterator[TestClient]:
    app = create_app(settings)
    app.state.audit_options = options
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(audit_settings) -> Iterator[TestClient]:
    # No poller: batches close only by size or POST /audit/anchor, never by the clock.
    with _client(audit_settings, AuditOptions(poll_seconds=None)) as client:
        yield client


@pytest.fixture(scope="module")
def applications() -> list[dict]:
    rows = load_german_credit().features[list(MODEL_FEATURES)].iloc[:5].to_dict("records")
    return [{k: v.item() if hasattr(v, "item") else v for k, v in row.items()} for row in rows]


@pytest.fixture
def application(applications) -> dict:
    return dict(applications[0])


def _decide(client: TestClient, application: dict) -> dict:
    response = client.post("/audit/decisions", json=application, headers=WRITER)
    assert response.status_code == 201, response.text
    return response.json()


def _anchored_bundle(client: TestClient, application: dict) -> dict:
    decision = _decide(client, application)
    assert client.post("/audit/anchor", headers=WRITER).status_code == 200
    return client.get(f"/audit/decisions/{decision['decision_id']}").json()["bundle"]


def _logged_count(settings: Settings) -> int:
    with open_decision_reader(settings) as (log, _):
        return log.size


# -- POST /audit/decisions ------------------------------------------------------------------


def test_decision_is_scored_logged_and_returned_with_its_salt(client, application, audit_settings):
    body = _decide(client, application)
    record = DecisionRecord.from_json_dict(body["record"])
    assert record.decision_id == body["decision_id"]
    assert body["leaf_index"] == 0
    assert record.output in ("approve", "deny")
    assert record.output == record.policy.outcome(record.score)
    assert len(record.explanation.contributions) == len(MODEL_FEATURES)
    assert len(bytes.fromhex(body["salt"])) == 32
    assert body["anchored"] is False
    assert _logged_count(audit_settings) == 1


def test_decision_comes_with_the_log_keys_signed_inclusion_promise(client, application):
    body = _decide(client, application)
    signed = SignedPromise.from_dict(body["promise"])
    assert signed.promise.leaf_index == body["leaf_index"]
    assert "0x" + signed.promise.leaf_hash.hex() == body["leaf_hash"]
    assert signed.promise.max_delay_ms > 0
    assert signed.signer() == client.app.state.platform.log_reader("decisions").log_signer()


def test_decision_is_made_by_the_served_model(client, application, audit_settings):
    body = _decide(client, application)
    assert body["record"]["model_id"] == open_model_store(audit_settings).served_id()


def test_returned_salt_opens_the_input_commitment(client, application):
    body = _decide(client, application)
    record = DecisionRecord.from_json_dict(body["record"])
    # The applicant holds their own application and the salt: that proves the record is theirs.
    assert prove_commitment(application, bytes.fromhex(body["salt"]), record)
    assert not prove_commitment(
        {**application, "credit_amount": 1}, bytes.fromhex(body["salt"]), record
    )


def test_decision_without_token_is_refused_and_nothing_logged(client, application, audit_settings):
    response = client.post("/audit/decisions", json=application)
    assert response.status_code == 403
    assert response.json()["field"] == "authorization"
    assert _logged_count(audit_settings) == 0


def test_decision_with_wrong_token_is_refused(client, application):
    response = client.post(
        "/audit/decisions", json=application, headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"duration_months": "12"}, "duration_months"),  # a number as a string
        ({"credit_amount": True}, "credit_amount"),
        ({"credit_amount": -100}, "credit_amount"),
        ({"purpose": "yacht"}, "purpose"),  # not one of the allowed categories
        ({"savings": 3}, "savings"),
        ({"age": 30}, "age"),  # protected attribute: not an input of the model
        ({"favourite_colour": "blue"}, "favourite_colour"),
    ],
)
def test_bad_application_is_422_naming_the_field_and_nothing_logged(
    client, application, audit_settings, change, field
):
    response = client.post("/audit/decisions", json={**application, **change}, headers=WRITER)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert _logged_count(audit_settings) == 0


def test_application_missing_a_feature_is_422_naming_it(client, application, audit_settings):
    del application["housing"]
    response = client.post("/audit/decisions", json=application, headers=WRITER)
    assert response.status_code == 422
    assert response.json()["field"] == "housing"
    assert response.json()["message"] == "housing: Field required"
    assert _logged_count(audit_settings) == 0


def test_decision_before_contracts_are_deployed_names_the_missing_contract(settings, application):
    fresh = settings.model_copy(update={"api_token": TOKEN})
    with _client(fresh, AuditOptions(poll_seconds=None)) as client:
        response = client.post("/audit/decisions", json=application, headers=WRITER)
    assert response.status_code == 404
    assert response.json()["field"] == "contract"
    assert "AnchorRegistry" in response.json()["message"]


def test_served_model_survives_a_restart_without_retraining(audit_settings, applications):
    store = open_model_store(audit_settings)
    ids = store.ids()
    model_ids = []
    for _ in range(2):
        with _client(audit_settings, AuditOptions(poll_seconds=None)) as client:
            model_ids.append(_decide(client, applications[0])["record"]["model_id"])
    assert model_ids[0] == model_ids[1] == store.served_id()
    assert store.ids() == ids


def test_decision_after_another_writer_appended_goes_after_its_record(client, applications):
    _decide(client, applications[0])
    # Another process appends to the same log behind the server's back.
    other = TransparencyLog(open_store(client.app.state.platform.settings, name="decisions"))
    other.append(b'{"from": "another writer"}')
    other.close()
    assert _decide(client, applications[1])["leaf_index"] == 2


# -- anchoring and GET /audit/decisions/{id} -------------------------------------------------


def test_decision_is_not_anchored_until_its_batch_closes(client, application):
    body = _decide(client, application)
    response = client.get(f"/audit/decisions/{body['decision_id']}")
    assert response.status_code == 409
    assert response.json()["error"] == "not_anchored"
    assert response.json()["field"] == "decision_id"


def test_anchor_closes_the_batch_with_one_transaction(client, applications):
    ids = [_decide(client, a)["decision_id"] for a in applications[:3]]
    response = client.post("/audit/anchor", headers=WRITER)
    assert response.status_code == 200
    [head] = response.json()["anchored_heads"]
    assert (head["tree_size"], head["batch_size"]) == (3, 3)
    bundles = [client.get(f"/audit/decisions/{i}").json()["bundle"] for i in ids]
    assert {b["anchor"]["tx_hash"] for b in bundles} == {head["anchor"]["tx_hash"]}


def test_anchor_with_nothing_pending_anchors_nothing(client):
    response = client.post("/audit/anchor", headers=WRITER)
    assert response.json() == {"anchored_heads": []}


def test_anchor_without_token_is_refused(client, application):
    _decide(client, application)
    assert client.post("/audit/anchor").status_code == 403
    assert client.get("/audit/heads").json() == []


def test_batch_closes_by_the_size_policy(audit_settings, applications):
    options = AuditOptions(policy=BatchPolicy(max_records=2), poll_seconds=None)
    with _client(audit_settings, options) as client:
        first = _decide(client, applications[0])
        second = _decide(client, applications[1])
        assert (first["anchored"], second["anchored"]) == (False, True)
        assert client.get(f"/audit/decisions/{first['decision_id']}").status_code == 200


def test_poller_anchors_a_batch_once_it_is_old_enough(audit_settings, application):
    now = [1_000.0]  # the log's clock, moved by hand
    with Platform.open(audit_settings) as platform:
        anchorer = Anchorer.register(
            platform.contract("AnchorRegistry"),
            "decisions",
            admin=platform.operator,
            signer=platform.account("log-signer", create=True),
        )
        log = TransparencyLog(
            open_store(audit_settings),
            anchorer=anchorer,
            policy=BatchPolicy(max_seconds=60),
            clock=lambda: now[0],
        )
        trained = served_credit_model(audit_settings)
        audited = AuditedModel(
            trained.estimator,
            trained.card,
            log,
            operator=platform.operator,
            threshold=0.6,
            index=open_decision_index(audit_settings),
        )
        service = AuditService(audit_settings, log, audited, poll_seconds=0.01)
        try:
            decision = service.decide(application)
            assert log.anchors() == []
            now[0] += 61  # the batch is now overdue; only the poller is running
            deadline = time.monotonic() + 30
            while not log.anchors():
                assert time.monotonic() < deadline, "the poller never anchored the batch"
                time.sleep(0.01)
            assert log.anchors()[0].tree_size == decision.leaf_index + 1
        finally:
            service.close()


def test_decision_with_proof_returns_record_and_bundle(client, application):
    body = _decide(client, application)
    client.post("/audit/anchor", headers=WRITER)
    response = client.get(f"/audit/decisions/{body['decision_id']}")
    assert response.status_code == 200
    got = response.json()
    assert got["record"] == body["record"]
    assert got["leaf_index"] == body["leaf_index"]
    assert got["bundle"]["record"] == body["record"]
    assert got["bundle"]["leaf_hash"] == body["leaf_hash"]
    assert body["salt"] not in response.text


def test_unknown_decision_is_404(client):
    response = client.get("/audit/decisions/" + "ab" * 32)
    assert response.status_code == 404
    assert response.json()["field"] == "decision_id"


def test_malformed_decision_id_is_422(client):
    response = client.get("/audit/decisions/not-a-decision-id")
    assert response.status_code == 422
    assert response.json()["field"] == "path.decision_id"


# -- GET /audit/decisions and /audit/heads ---------------------------------------------------


def test_recent_decisions_are_listed_newest_first_up_to_the_limit(client, applications):
    ids = [_decide(client, a)["decision_id"] for a in applications[:3]]
    listed = client.get("/audit/decisions", params={"limit": 2}).json()
    assert [d["decision_id"] for d in listed] == ids[:0:-1]
    assert [d["leaf_index"] for d in listed] == [2, 1]
    assert all(d["anchored"] is False for d in listed)


def test_recent_decisions_show_no_salt(client, application):
    salt = _decide(client, application)["salt"]
    response = client.get("/audit/decisions")
    assert response.json()[0]["decision_id"]
    assert salt not in response.text


@pytest.mark.parametrize("limit", [0, 501, "many"])
def test_recent_decisions_limit_out_of_range_is_422(client, limit):
    response = client.get("/audit/decisions", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["field"] == "query.limit"


def test_heads_list_each_anchor_transaction(client, applications):
    _decide(client, applications[0])
    first = client.post("/audit/anchor", headers=WRITER).json()["anchored_heads"][0]
    _decide(client, applications[1])
    _decide(client, applications[2])
    second = client.post("/audit/anchor", headers=WRITER).json()["anchored_heads"][0]
    heads = client.get("/audit/heads").json()
    assert [(h["tree_size"], h["batch_size"]) for h in heads] == [(3, 2), (1, 1)]
    assert [h["anchor"]["tx_hash"] for h in heads] == [
        second["anchor"]["tx_hash"],
        first["anchor"]["tx_hash"],
    ]


# -- POST /audit/verify ----------------------------------------------------------------------


def test_bundle_from_the_api_verifies(client, application):
    bundle = _anchored_bundle(client, application)
    response = client.post("/audit/verify", json=bundle)
    assert response.status_code == 200
    verdict = response.json()
    assert verdict["ok"] is True
    assert verdict["reason"] is None
    assert verdict["decision_id"] == bundle["record"]["decision_id"]
    assert [c["name"] for c in verdict["checks"]] == [
        "format",
        "record",
        "leaf_hash",
        "inclusion",
        "chain",
        "anchored_head",
        "signature",
        "operator",
        "anchor_tx",
        "identity",
    ]
    assert verdict["checks"][-1]["detail"].startswith("identity NOT pinned")


def _flip_hex(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def _alter_contribution(bundle: dict) -> None:
    contributions = bundle["record"]["explanation"]["contributions"]
    feature = next(iter(contributions))
    contributions[feature] = -contributions[feature] + 1.0


def _alter_root(bundle: dict) -> None:
    bundle["tree_head"]["root_hash"] = _flip_hex(bundle["tree_head"]["root_hash"])


def _alter_proof(bundle: dict) -> None:
    hashes = bundle["inclusion_proof"]["hashes"]
    hashes[0] = _flip_hex(hashes[0])


def _alter_signature(bundle: dict) -> None:
    signature = bundle["tree_head"]["signature"]
    bundle["tree_head"]["signature"] = signature[:10] + _flip_hex(signature[10:20]) + signature[20:]


def _alter_tx(bundle: dict) -> None:
    bundle["anchor"]["tx_hash"] = _flip_hex(bundle["anchor"]["tx_hash"])


@pytest.mark.parametrize(
    ("tamper", "failed_check"),
    [
        (_alter_contribution, "leaf_hash"),
        (_alter_proof, "inclusion"),
        (_alter_root, "inclusion"),
        (_alter_signature, "signature"),
        (_alter_tx, "anchor_tx"),
    ],
)
def test_tampered_bundle_is_not_verified_and_says_why(client, applications, tamper, failed_check):
    _decide(client, applications[1])  # so that the inclusion proof has hashes to alter
    bundle = copy.deepcopy(_anchored_bundle(client, applications[0]))
    tamper(bundle)
    response = client.post("/audit/verify", json=bundle)
    assert response.status_code == 200
    verdict = response.json()
    assert verdict["ok"] is False
    assert verdict["reason"].startswith(f"{failed_check}: ")
    assert verdict["checks"][-1] == {
        "name": failed_check,
        "ok": False,
        "detail": verdict["reason"].removeprefix(f"{failed_check}: "),
    }


def test_bundle_missing_a_part_is_422_naming_it(client, application):
    bundle = _anchored_bundle(client, application)
    del bundle["anchor"]
    response = client.post("/audit/verify", json=bundle)
    assert response.status_code == 422
    assert response.json()["field"] == "anchor"


@pytest.mark.parametrize("body", [[], "proof", 42])
def test_bundle_that_is_not_an_object_is_422(client, body):
    assert client.post("/audit/verify", json=body).status_code == 422


def test_bundle_that_is_not_json_is_422(client):
    response = client.post(
        "/audit/verify", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


def test_openapi_documents_the_audit_routes_and_allowed_values(client):
    schema = client.get("/openapi.json").json()
    assert {"/audit/decisions", "/audit/decisions/{decision_id}", "/audit/verify"} <= set(
        schema["paths"]
    )
    application = schema["components"]["schemas"]["CreditApplication"]
    assert set(application["required"]) == set(MODEL_FEATURES)
    assert "radio/television" in application["properties"]["purpose"]["enum"]
