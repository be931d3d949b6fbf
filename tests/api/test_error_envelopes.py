"""Every error the API answers is the envelope ``{"error", "message", "field"}``, never a 500.

Before the shared handlers (``ailedger.http``), a body pydantic rejected with a value
JSON cannot carry (NaN, raw bytes) made the handler itself fail: 500, connection reset.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ailedger.api import create_app
from ailedger.errors import InvalidInputError

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_ROUTES = ["/audit/decisions", "/audit/verify", "/market/gate", "/market/compute-jobs"]


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings.model_copy(update={"api_token": TOKEN}))) as client:
        yield client


def _assert_envelope(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert {"error", "message", "field"} <= set(body)
    return body


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("route", JSON_ROUTES)
def test_a_non_json_number_is_a_422_naming_it(client, route, literal):
    response = client.post(
        route,
        content='{"duration_months": ' + literal + ', "rows": [], "policy": {}}',
        headers={**AUTH, "content-type": "application/json"},
    )
    body = _assert_envelope(response, 422)
    assert body["message"].startswith(f"request body: {literal} is not a JSON number")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
@pytest.mark.parametrize("route", JSON_ROUTES)
def test_a_body_that_is_not_json_is_a_422_asking_for_json(client, route, content_type):
    response = client.post(
        route, content="duration_months=12", headers={**AUTH, "content-type": content_type}
    )
    body = _assert_envelope(response, 422)
    assert body["message"] == (
        f"request body must be JSON (Content-Type: application/json), got {content_type!r}"
    )
    assert "duration_months=12" not in response.text  # the input is never echoed


def test_invalid_json_is_a_422_envelope(client):
    response = client.post(
        "/audit/verify", content="{not json", headers={"content-type": "application/json"}
    )
    _assert_envelope(response, 422)


def test_an_unknown_route_is_a_404_envelope_naming_it(client):
    response = client.get("/no/such/route")
    assert _assert_envelope(response, 404) == {
        "error": "not_found",
        "message": "no route GET /no/such/route",
        "field": None,
    }


def test_a_wrong_method_is_a_405_envelope_with_allow(client):
    response = client.delete("/audit/verify")
    assert _assert_envelope(response, 405)["error"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"


def test_errors_do_not_show_server_paths_or_cli_advice(client, settings):
    job = {"listing_id": 1, "buyer": "nobody", "estimator": "decision_tree", "target": "y"}
    response = client.post("/market/compute-jobs", json=job, headers=AUTH)
    body = _assert_envelope(response, 404)
    assert "no key named 'nobody'" in body["message"]
    assert str(settings.home) not in body["message"]
    assert "ailedger keys" not in body["message"]


def test_an_unexpected_exception_is_a_500_envelope_without_details(settings):
    app = create_app(settings)

    @app.get("/_probe/crash")
    def crash() -> dict:
        raise RuntimeError(f"secret detail at {settings.home}")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/_probe/crash")
    assert _assert_envelope(response, 500) == {
        "error": "internal",
        "message": "internal server error",
        "field": None,
    }


def test_a_token_without_the_keystore_password_is_refused_at_start(settings):
    with pytest.raises(InvalidInputError, match="AILEDGER_PASSWORD is not"):
        create_app(settings.model_copy(update={"api_token": TOKEN, "password": None}))


def test_a_number_longer_than_python_parses_is_a_400_naming_the_limit(client):
    response = client.post(
        "/market/gate",
        content='{"rows": [{"a": ' + "9" * 5000 + '}], "policy": {}}',
        headers={"content-type": "application/json"},
    )
    body = _assert_envelope(response, 400)
    assert body["message"] == "request body: a number with more than 4300 digits"
