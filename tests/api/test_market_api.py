"""The /market API over a data dir where the patient-pool scenario ran."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from ailedger.api import create_app
from ailedger.market.scenario import run_patient_market
from ailedger.platform import Platform

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def market_settings(tmp_path_factory):
    from ailedger.config import Settings

    settings = Settings(
        home=tmp_path_factory.mktemp("api") / "home",
        keystore_scrypt_n=2**4,
        password="pw",
        api_token=TOKEN,
    )
    with Platform.open(settings) as platform:
        summary = run_patient_market(platform, n_patients=36)
    return settings, summary


@pytest.fixture
def client(market_settings):
    with TestClient(create_app(market_settings[0])) as client:
        yield client


@pytest.fixture
def summary(market_settings):
    return market_settings[1]


def test_overview_lists_the_listing_pool_and_purchases(client, summary):
    body = client.get("/market/overview").json()
    assert [item["listing_id"] for item in body["listings"]] == [summary.listing_id]
    assert [pool["contributors"] for pool in body["pools"]] == [summary.patients]
    assert [p["kind"] for p in body["purchases"]] == ["access", "compute"]
    assert all(p["status"] == "settled" for p in body["purchases"])


def test_a_listing_shows_its_title_and_gate_result(client, summary):
    body = client.get(f"/market/listings/{summary.listing_id}").json()
    assert body["title"].startswith("Breast biopsy pool")
    assert body["gate"].startswith("passed")
    assert body["pool_id"] == summary.pool_id
    assert body["private_summary"]["epsilon"] == 1.0


def test_an_unknown_listing_is_a_404_naming_it(client):
    response = client.get("/market/listings/999")
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "no listing with id 999",
        "field": "listing_id",
    }


def test_an_unknown_pool_is_a_404_naming_it(client):
    response = client.get("/market/pools/999/contributors")
    assert response.status_code == 404
    assert response.json()["field"] == "pool_id"


def test_delisting_an_unknown_listing_is_a_404(client):
    response = client.post("/market/listings/999/active", json={"active": False}, headers=AUTH)
    assert response.status_code == 404
    assert response.json()["field"] == "listing_id"


def test_contributors_show_what_each_patient_earned(client, summary):
    rows = client.get(f"/market/pools/{summary.pool_id}/contributors").json()
    assert len(rows) == summary.patients
    by_address = {row["address"]: row for row in rows}
    for patient in summary.earnings:
        assert int(by_address[patient.address]["claimed_wei"]) == patient.withdrawn


def test_balances_of_an_address_are_readable(client, summary):
    body = client.get(f"/market/balances/{summary.earnings[0].address}").json()
    assert body["balance_wei"] == "0"  # withdrawn


def test_a_bad_address_is_a_422(client):
    assert client.get("/market/balances/0x123").status_code == 422


def test_estimators_lists_the_allow_list_with_bounds(client):
    body = client.get("/market/estimators").json()
    assert body["random_forest"]["params"]["min_samples_leaf"]["min"] == 5


POLICY = {
    "direct_identifiers": ["name"],
    "quasi_identifiers": {"age": {"bands": [10, 20]}},
    "sensitive": "diagnosis",
}


def test_gate_reports_a_passing_dataset(client):
    rows = [
        {"name": f"p{i}", "age": 40 + i % 10, "diagnosis": "ab"[i % 2], "x": i / 3}
        for i in range(20)
    ]
    body = client.post("/market/gate", json={"rows": rows, "policy": POLICY}).json()
    assert body["passed"] is True
    assert body["dropped_columns"] == ["name"]


def test_gate_refuses_a_failing_dataset_naming_groups(client):
    rows = [{"name": "a", "age": 41, "diagnosis": "a"}, {"name": "b", "age": 95, "diagnosis": "b"}]
    response = client.post("/market/gate", json={"rows": rows, "policy": POLICY})
    assert response.status_code == 422
    assert response.json()["field"] == "dataset"
    assert "age=" in response.json()["message"]


def test_gate_refuses_a_bad_policy(client):
    response = client.post(
        "/market/gate", json={"rows": [{"a": 1}], "policy": {"quasi_identifiers": {}}}
    )
    assert response.status_code == 422


def test_writes_without_the_token_are_refused(client, summary):
    response = client.post(f"/market/listings/{summary.listing_id}/active", json={"active": False})
    assert response.status_code == 403
    assert client.get(f"/market/listings/{summary.listing_id}").json()["active"] is True


def test_gate_refuses_a_malformed_hierarchy_naming_it(client):
    policy = {**POLICY, "quasi_identifiers": {"age": {"bands": 10}}}
    response = client.post("/market/gate", json={"rows": [{"age": 1}], "policy": policy})
    assert response.status_code == 422
    assert response.json()["field"] == "bands"


def test_writes_with_a_wrong_token_are_refused(client, summary):
    response = client.post(
        f"/market/listings/{summary.listing_id}/active",
        json={"active": False},
        headers={"Authorization": "Bearer wrong"},
    )
    assert response.status_code == 403
    assert client.get(f"/market/listings/{summary.listing_id}").json()["active"] is True


def _job(summary, **change) -> dict:
    return {
        "listing_id": summary.listing_id,
        "buyer": "lab-b",
        "estimator": "decision_tree",
        "target": "diagnosis",
        **change,
    }


def test_a_compute_job_without_the_token_buys_nothing(client, summary):
    before = client.get("/market/purchases").json()
    response = client.post("/market/compute-jobs", json=_job(summary))
    assert response.status_code == 403
    assert client.get("/market/purchases").json() == before


def test_a_compute_job_on_a_target_that_cannot_train_is_a_422_and_buys_nothing(client, summary):
    before = client.get("/market/purchases").json()
    response = client.post(
        "/market/compute-jobs", json=_job(summary, target="mean radius"), headers=AUTH
    )
    assert response.status_code == 422
    assert response.json()["field"] == "target"
    assert client.get("/market/purchases").json() == before


def test_a_compute_job_with_a_boolean_parameter_is_a_422(client, summary):
    response = client.post(
        "/market/compute-jobs", json=_job(summary, params={"max_depth": True}), headers=AUTH
    )
    assert response.status_code == 422
    assert response.json()["field"] == "params.max_depth"
    assert "expected a number, got bool" in response.json()["message"]


def test_a_compute_job_with_a_401_digit_parameter_is_a_422_naming_it(client, summary):
    before = client.get("/market/purchases").json()
    response = client.post(
        "/market/compute-jobs", json=_job(summary, params={"max_depth": 10**400}), headers=AUTH
    )
    assert response.status_code == 422
    assert response.json()["field"] == "params.max_depth"
    assert "a 401-digit integer" in response.json()["message"]
    assert client.get("/market/purchases").json() == before


def test_a_compute_job_for_a_401_digit_listing_is_a_4xx_naming_it(client, summary):
    response = client.post(
        "/market/compute-jobs", json=_job(summary, listing_id=10**400), headers=AUTH
    )
    assert 400 <= response.status_code < 500
    assert "listing_id" in response.json()["field"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("route", ["/market/gate", "/market/compute-jobs"])
def test_non_json_numbers_are_a_422_envelope(client, route, literal):
    body = '{"rows": [{"age": %s}], "policy": {}, "listing_id": 1, "params": {"x": %s}}'
    response = client.post(
        route,
        content=body % (literal, literal),
        headers={**AUTH, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_input",
        "message": f"request body: {literal} is not a JSON number (RFC 8259); send finite numbers",
        "field": "body",
    }


def test_a_compute_job_outside_the_allow_list_is_a_422(client, summary):
    body = {"listing_id": summary.listing_id, "buyer": "lab-b", "estimator": "svc", "target": "d"}
    response = client.post("/market/compute-jobs", json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["field"] == "estimator"


def test_a_compute_job_returns_model_hash_and_metrics(client, summary):
    body = {
        "listing_id": summary.listing_id,
        "buyer": "lab-b",
        "estimator": "decision_tree",
        "target": "diagnosis",
        "params": {"max_depth": 3},
    }
    response = client.post("/market/compute-jobs", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    result = response.json()
    assert len(result["model_hash"]) == 64
    assert result["metrics"]["accuracy"] > 0.5
    assert result["log_index"] >= 2  # after the scenario's two sales (other tests may add more)


def test_the_seller_delists_and_relists_with_the_token(client, summary):
    url = f"/market/listings/{summary.listing_id}/active"
    assert client.post(url, json={"active": False}, headers=AUTH).json()["active"] is False
    assert client.post(url, json={"active": True}, headers=AUTH).json()["active"] is True


@pytest.mark.parametrize(
    ("action", "body", "reason"),
    [
        ("settle", {"account": "lab-b"}, "settle: purchase not delivered"),
        ("dispute", {"buyer": "lab-a"}, "dispute: purchase not delivered"),
    ],
)
def test_settling_or_disputing_a_settled_purchase_is_a_409_with_the_reason(
    client, summary, action, body, reason
):
    url = f"/market/purchases/{summary.access_purchase}/{action}"
    response = client.post(url, json=body, headers=AUTH)
    assert response.status_code == 409
    assert reason in response.json()["message"]


def test_settling_needs_the_token(client, summary):
    url = f"/market/purchases/{summary.access_purchase}/settle"
    assert client.post(url, json={"account": "lab-b"}).status_code in (401, 403)


def test_a_wrong_key_is_disputed_through_the_api_and_the_refund_logged(client, market_settings):
    from eth_utils import keccak

    from ailedger.core.storage import open_blob_store
    from ailedger.market.contract import open_market
    from ailedger.market.exchange import wrap_key_for
    from ailedger.market.service import DataBuyer

    settings, summary = market_settings
    with Platform.open(settings) as platform:
        market = open_market(platform)
        buyer = DataBuyer(market, platform.account("lab-b"), open_blob_store(settings))
        purchase_id = buyer.order_compute(summary.listing_id)
        garbage = wrap_key_for(
            keccak(b"junk"),
            buyer.delivery_public_key(purchase_id),
            platform.chain.chain_id,
            market.address,
            purchase_id,
        )
        market.deliver(
            platform.account("hospital"), purchase_id, garbage, keccak(b"m"), keccak(b"k")
        )
    response = client.post(
        f"/market/purchases/{purchase_id}/dispute", json={"buyer": "lab-b"}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "refunded"
    assert response.json()["log_index"] is not None


HOSTILE_PATH_VALUES = ["9" * 401, "-1", "%00", "%F0%9F%92%A9", "0x" + "f" * 40, "1e9", "NaN"]


@pytest.mark.parametrize("value", HOSTILE_PATH_VALUES)
def test_no_read_route_answers_500_to_a_hostile_path_or_query_value(client, value):
    paths = client.get("/openapi.json").json()["paths"]
    for route in (path for path, operations in paths.items() if "get" in operations):
        path = re.sub(r"\{[^}]+\}", value, route) + f"?limit={value}&consumer={value}"
        response = client.get(path)
        assert response.status_code < 500, (path, response.text[:200])
