"""ailedger.http: the body checks every server runs, as properties, and a fuzz over the API."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger.api import create_app
from ailedger.errors import InvalidInputError
from ailedger.http import MalformedBodyError, check_json_body, json_depth, public_message

# Strings full of what a depth scanner could trip over: brackets, quotes, backslashes.
tricky_text = st.text(alphabet=st.sampled_from('[]{}"\\ab NaN,:\n\u00e9'), max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | tricky_text
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=4),
    max_leaves=30,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(documents, st.booleans())
def test_json_depth_is_the_nesting_depth_of_any_document(document, ascii_only):
    text = json.dumps(document, ensure_ascii=ascii_only)
    assert json_depth(text.encode()) == _depth(document)


@given(documents)
def test_a_document_within_the_depth_limit_passes_and_one_level_less_refuses(document):
    body = json.dumps(document).encode()
    depth = _depth(document)
    check_json_body(body, max_depth=max(depth, 1))
    if depth > 1:
        with pytest.raises(MalformedBodyError, match=f"deeper than {depth - 1} levels"):
            check_json_body(body, max_depth=depth - 1)


@given(st.sampled_from([math.nan, math.inf, -math.inf]), documents)
def test_a_non_json_number_outside_strings_is_refused(number, document):
    body = json.dumps({"doc": document, "x": number}).encode()  # Python writes NaN/Infinity
    with pytest.raises(InvalidInputError, match="is not a JSON number"):
        check_json_body(body, max_depth=64)


def test_a_number_longer_than_python_parses_is_refused():
    with pytest.raises(MalformedBodyError, match="more than 4300 digits"):
        check_json_body(b'{"a": ' + b"9" * 4301 + b"}", max_depth=64)


def test_public_message_hides_the_data_dir_and_cli_advice():
    home = Path("/srv/ailedger-home")
    message = (
        f"no key named 'bob' in {home}/keystore; create one with `ailedger keys new` or import"
    )
    assert public_message(message, home) == "no key named 'bob' in the server's data dir/keystore"
    assert public_message("no log: no operator; run `ailedger demo`", None) == (
        "no log: no operator"
    )
    assert public_message("closes at POST /audit/anchor", home) == "closes at POST /audit/anchor"


POST_ROUTES = [
    "/audit/decisions",
    "/audit/verify",
    "/audit/anchor",
    "/services/proofs/verify",
    "/market/gate",
    "/market/compute-jobs",
    "/market/listings/1/active",
    "/ui/audit/verify",
]
bodies = documents.map(lambda d: json.dumps(d).encode()) | st.binary(max_size=200)
content_types = st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", "", "a/b;c"]
)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from ailedger.config import Settings

    home = tmp_path_factory.mktemp("fuzz") / "home"
    app = create_app(Settings(home=home, keystore_scrypt_n=16, password="pw"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(route=st.sampled_from(POST_ROUTES), body=bodies, content_type=content_types)
def test_no_body_gets_a_500_from_any_route(api, route, body, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = api.post(route, content=body, headers=headers)
    assert response.status_code < 500, response.text
    if route != "/ui/audit/verify":
        assert {"error", "message", "field"} <= set(response.json())
