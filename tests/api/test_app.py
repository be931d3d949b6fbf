"""The HTTP API: health, chain status, errors as 4xx JSON, authenticated writes."""

from __future__ import annotations

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from ailedger.api import create_app
from ailedger.api.deps import require_writer
from ailedger.errors import InvalidInputError


@pytest.fixture
def client(settings):
    app = create_app(settings.model_copy(update={"api_token": "s3cret"}))

    @app.post("/_probe/write", dependencies=[Depends(require_writer)])
    def probe_write() -> dict:
        return {"written": True}

    @app.get("/_probe/bad")
    def probe_bad() -> dict:
        raise InvalidInputError("amount must be positive, got -1", field="amount")

    with TestClient(app) as client:
        yield client


def test_health_reports_ok(client):
    assert client.get("/health").json()["status"] == "ok"


def test_chain_reports_chain_id_and_head(client):
    body = client.get("/chain").json()
    assert body["chain_id"] == 31337
    assert body["head_block"] >= 0
    assert body["contracts"] == {}
    assert body["token_supply"] is None


def test_openapi_lists_chain_route(client):
    assert "/chain" in client.get("/openapi.json").json()["paths"]


def test_ailedger_error_becomes_4xx_json_naming_the_field(client):
    response = client.get("/_probe/bad")
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_input",
        "message": "amount must be positive, got -1",
        "field": "amount",
    }


def test_write_without_token_is_refused(client):
    response = client.post("/_probe/write")
    assert response.status_code == 403
    assert response.json()["field"] == "authorization"


def test_write_with_wrong_token_is_refused(client):
    response = client.post("/_probe/write", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 403


def test_write_with_token_passes(client):
    response = client.post("/_probe/write", headers={"Authorization": "Bearer s3cret"})
    assert response.json() == {"written": True}
