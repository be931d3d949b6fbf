"""The host's HTTP face: single calls and batches over HTTP, errors as JSON with their status."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger.core.identity import canonical_json
from ailedger.core.log import BatchPolicy
from ailedger.errors import InvalidInputError
from ailedger.services import (
    HttpTransport,
    PaymentRequiredError,
    ServiceClient,
    VoucherSigner,
    create_host_app,
)
from ailedger.services.app import HostLoop
from tests.services.conftest import PRICE


@pytest.fixture
def http(services, host):
    with TestClient(create_host_app(host, close_on_shutdown=False)) as test_client:
        yield test_client


@pytest.fixture
def http_client(services, http) -> ServiceClient:
    transport = HttpTransport("http://testserver", client=http)
    return services.client(None, transport=transport)


def test_batch_over_http_is_verified_by_the_client(http_client, services):
    batch = http_client.call_batch(http_client.discover("diagnosis"), services.model.examples[:4])
    assert batch.outputs == [services.model.predict(x) for x in services.model.examples[:4]]
    assert batch.receipt.amount == 4 * PRICE


def test_single_call_and_batch_over_http_share_the_channel(http_client, services):
    listing = http_client.discover("diagnosis")
    call = http_client.call(listing, services.model.examples[0])
    batch = http_client.call_batch(listing, services.model.examples[1:3])
    assert batch.voucher.channel_id == call.voucher.channel_id
    assert (batch.voucher.nonce, batch.voucher.amount) == (2, 3 * PRICE)


def test_batch_with_a_bad_item_is_refused_naming_the_item(http_client, services):
    inputs = [dict(x) for x in services.model.examples[:2]]
    inputs[1]["mean area"] = "big"
    with pytest.raises(InvalidInputError, match=r"inputs\[1\]") as raised:
        http_client.call_batch(http_client.discover("diagnosis"), inputs)
    assert raised.value.field == "inputs[1].mean area"


def test_batch_without_voucher_is_a_402(http):
    response = http.post("/batch", json={"inputs": [{}], "salt": "0x" + "00" * 32})
    assert response.status_code == 402
    assert response.json()["field"] == "voucher"


def test_batch_paying_too_little_is_a_402(http, services, host):
    channel = services.client(host).open_channel(services.listing, 10 * PRICE)
    signer = VoucherSigner(services.platform.chain.chain_id, services.contracts.channels.address)
    voucher = signer.sign(services.consumer, channel.channel_id, 1, PRICE)
    response = http.post(
        "/batch",
        json={
            "inputs": services.model.examples[:2],
            "salt": "0x" + "00" * 32,
            "voucher": voucher.to_dict(),
        },
    )
    assert response.status_code == PaymentRequiredError.http_status
    assert response.json()["field"] == "voucher.amount"


def test_encoded_batch_is_sent_as_the_envelope_then_one_input_a_line(services):
    sent = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"ok": True})

    transport = HttpTransport(
        "http://host", client=httpx.Client(transport=httpx.MockTransport(answer))
    )
    inputs = services.model.examples[:3]
    encoded = [canonical_json(x) for x in inputs]
    request = {"inputs": inputs, "salt": "0x" + "11" * 32, "voucher": {"nonce": 1}}
    assert transport.call_batch_encoded(request, encoded) == {"ok": True}
    (sent_request,) = sent
    assert sent_request.url.path == "/batch/lines"
    assert sent_request.headers["content-type"] == "application/x-ndjson"
    lines = sent_request.content.split(b"\n")
    assert json.loads(lines[0]) == {"salt": request["salt"], "voucher": request["voucher"]}
    assert lines[1:] == encoded


def test_batch_lines_with_a_malformed_line_is_a_422_naming_it(http, host, services):
    log_before = host.log.size
    envelope = json.dumps({"salt": "0x" + "00" * 32, "voucher": {}}).encode()
    body = b"\n".join([envelope, canonical_json(services.model.examples[0]), b"{oops"])
    response = http.post(
        "/batch/lines", content=body, headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 422
    assert response.json()["field"] == "inputs[1]"
    assert host.log.size == log_before


def test_junk_channel_ids_do_not_grow_the_lock_table(http, host, services):
    signer = VoucherSigner(services.platform.chain.chain_id, services.contracts.channels.address)
    for channel_id in range(10_000, 10_300):
        voucher = signer.sign(services.consumer, channel_id, 1, PRICE)
        body = {"input": services.model.examples[0], "salt": "0x" + "00" * 32}
        response = http.post("/call", json=body | {"voucher": voucher.to_dict()})
        assert response.status_code == 402
    assert len(host._channel_locks) <= 64
    assert not any(channel_id >= 10_000 for channel_id in host._known)


def test_claim_rounds_come_at_least_twice_per_expiry_margin(host):
    # Else a channel entering the margin could expire (and be reclaimed) unclaimed.
    assert host.log.policy.max_seconds < host.policy.expiry_margin / 2
    host.log.policy = BatchPolicy(max_seconds=3600)
    assert HostLoop(host, 3600).interval == host.policy.expiry_margin / 2
    assert HostLoop(host, 5).interval == 5


def test_an_unknown_route_on_the_host_is_the_error_envelope(http):
    response = http.post("/no/such/route", json={})
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "no route POST /no/such/route",
        "field": None,
    }


def test_a_call_body_that_is_not_json_is_a_422_asking_for_json(http):
    response = http.post("/call", content="input=1", headers={"content-type": "text/plain"})
    assert response.status_code == 422
    assert response.json()["message"] == (
        "request body must be JSON (Content-Type: application/json), got 'text/plain'"
    )


def test_upkeep_rounds_come_at_least_once_per_batch_age_limit(host):
    # Only upkeep anchors a batch closed by age (GET /proofs never does).
    loop = HostLoop(host, 3600)
    assert loop.interval == host.log.policy.max_seconds
    assert host.upkeep_interval == loop.interval  # what "anchored by" allows for


def test_proof_of_an_unanchored_call_names_when_it_will_be_anchored(http, host, services):
    """The route never anchors on demand; upkeep (the batch policy) does, then it proves."""
    client = services.client(host)
    listing = client.discover("diagnosis")
    paid = client.call(listing, services.model.examples[0])
    anchors = len(host.log.anchors())
    response = http.get(f"/proofs/{paid.log_index}")
    assert response.status_code == 425
    assert "not yet anchored; anchored by" in response.json()["message"]
    assert len(host.log.anchors()) == anchors
    host.log.policy = BatchPolicy(max_records=1)  # the batch is now due by size
    HostLoop(host, 3600).tick()
    assert http.get(f"/proofs/{paid.log_index}").status_code == 200
    assert client.prove(paid, listing).log_index == paid.log_index


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(index=st.integers(min_value=0, max_value=2**70))
def test_no_proof_request_sends_a_transaction(http, host, services, index):
    """Property: whatever index an unauthenticated caller asks for, the chain is unchanged."""
    if host.log.size == 0:
        services.client(host).call(services.listing, services.model.examples[0])
    before = services.platform.chain.block_number()
    response = http.get(f"/proofs/{index}")
    assert response.status_code in (404, 425)
    assert services.platform.chain.block_number() == before
