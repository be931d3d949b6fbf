"""The `/services` API router: listings, channels, earnings and proof checks, read-only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ailedger.api import create_app
from ailedger.api import services as services_api
from tests.services.conftest import PRICE


@pytest.fixture
def paid(services, client):
    """Three paid calls on one channel, claimed once."""
    listing = client.discover("diagnosis")
    calls = [client.call(listing, services.model.examples[i]) for i in range(3)]
    return calls


@pytest.fixture
def api(services, paid, host):
    host.claim_all()
    host.anchor_now()  # the operator anchors (GET /proofs never does)
    app = create_app(services.platform.settings)
    app.include_router(services_api.router)
    with TestClient(app) as test_client:
        yield test_client


def test_services_lists_the_registry(api, services):
    (listing,) = api.get("/services").json()
    assert listing["name"] == "diagnosis"
    assert listing["price"] == PRICE
    assert listing["owner"] == services.owner.address


def test_overview_counts_calls_and_earnings(api, services):
    overview = api.get("/services/overview").json()
    assert overview["calls"] == 3
    (channel,) = overview["channels"]
    assert (channel["calls"], channel["accepted"], channel["claimed"]) == (3, 3 * PRICE, 3 * PRICE)
    (earnings,) = overview["earnings"]
    assert (earnings["owner"], earnings["claimed"]) == (services.owner.address, 3 * PRICE)


def test_channels_filter_by_consumer(api, services):
    mine = api.get("/services/channels", params={"consumer": services.consumer.address}).json()
    theirs = api.get("/services/channels", params={"consumer": services.owner.address}).json()
    assert len(mine) == 1 and theirs == []


def test_unknown_channel_is_404(api):
    response = api.get("/services/channels/42")
    assert response.status_code == 404
    assert response.json()["field"] == "channel_id"


def test_unknown_service_name_is_404(api):
    assert api.get("/services/nope").status_code == 404


def test_proof_of_a_call_verifies(api, client, paid, host):
    listing = client.discover("diagnosis")
    host.anchor_now()  # the operator anchors (GET /proofs never does)
    proof = client.proof(listing, paid[1])
    report = api.post("/services/proofs/verify", json=proof).json()
    assert (report["ok"], report["reason"]) == (True, None)
    assert report["log_index"] == paid[1].log_index
    assert report["identity"].startswith("identity NOT pinned")


def test_tampered_proof_is_ok_false_with_the_reason_like_audit_verify(api, client, paid):
    proof = client.proof(client.discover("diagnosis"), paid[0])
    proof["record"] = proof["record"].replace('"nonce":1', '"nonce":9')
    response = api.post("/services/proofs/verify", json=proof)
    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert response.json()["reason"]


def test_a_saved_call_document_verifies(api, client, paid):
    """The shape `services call --save` writes: the call, its receipt and its proof."""
    document = paid[2].to_dict()
    document["proof"] = client.proof(client.discover("diagnosis"), paid[2])
    report = api.post("/services/proofs/verify", json=document).json()
    assert report["ok"] is True
    assert report["receipt"] == document["receipt"]


def test_a_saved_call_whose_receipt_is_not_the_logged_one_is_ok_false(api, client, paid):
    document = paid[2].to_dict()
    document["proof"] = client.proof(client.discover("diagnosis"), paid[1])
    report = api.post("/services/proofs/verify", json=document).json()
    assert report["ok"] is False
    assert report["field"] == "receipt"


def test_a_document_that_is_no_proof_is_a_422(api):
    response = api.post("/services/proofs/verify", json={"record": 1})
    assert response.status_code == 422
    assert response.json()["field"] == "proof"


def test_a_proof_whose_record_string_nests_100000_deep_is_a_422(api):
    deep = "[" * 100_000 + "]" * 100_000  # inside a JSON string: the body scan cannot see it
    response = api.post("/services/proofs/verify", json={"record": deep})
    assert response.status_code == 422
    assert response.json()["field"] == "proof"
