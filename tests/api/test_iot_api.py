"""POST /iot/readings takes the MQTT payload; rejections answer 4xx JSON naming the reason."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from ailedger.api import create_app
from ailedger.iot import MAX_PAYLOAD_BYTES, Measurement, Reading
from ailedger.iot.node import open_iot
from ailedger.platform import Platform

DEVICE = Account.from_key(b"\x51" * 32)
FIRMWARE = b"\x01" * 32


@pytest.fixture
def client(settings):
    with Platform.open(settings) as platform:
        node = open_iot(platform)
        owner = platform.account("fleet-owner", create=True, fund_wei=10**18)
        node.registry.register(owner, DEVICE.address, owner.address, "cold-room", FIRMWARE)
        node.close()
    with TestClient(create_app(settings)) as client:
        yield client


def _signed(client, seq: int, signer=DEVICE) -> bytes:
    node = open_iot(client.app.state.platform)
    codec = node.codec
    node.close()
    values = (Measurement("temperature", 4000, "Cel"),)
    reading = Reading(DEVICE.address, seq, int(time.time() * 1000), values)
    return codec.sign(signer, reading).to_bytes()


def test_valid_reading_is_accepted_and_counted(client):
    answer = client.post("/iot/readings", content=_signed(client, 1))
    assert answer.status_code == 201, answer.text
    assert answer.json()["accepted"] is True
    stats = client.get("/iot/stats").json()
    assert stats["devices"][DEVICE.address]["accepted"] == {"reading": 1}
    devices = client.get("/iot/devices").json()
    assert devices[0]["device"] == DEVICE.address and devices[0]["status"] == "active"


def test_replay_is_409_naming_the_reason(client):
    payload = _signed(client, 1)
    client.post("/iot/readings", content=payload)
    answer = client.post("/iot/readings", content=payload)
    assert answer.status_code == 409
    body = answer.json()
    assert (body["error"], body["field"]) == ("rejected", "replayed")
    assert "already stored" in body["message"]


def test_forged_signature_is_403(client):
    answer = client.post(
        "/iot/readings", content=_signed(client, 1, Account.from_key(b"\x52" * 32))
    )
    assert answer.status_code == 403
    assert answer.json()["field"] == "bad_signature"


def test_malformed_body_is_422(client):
    answer = client.post("/iot/readings", content=b"{")
    assert answer.status_code == 422
    assert answer.json()["field"] == "malformed"


def test_oversized_body_is_413_and_counted(client):
    answer = client.post("/iot/readings", content=b"x" * (MAX_PAYLOAD_BYTES * 4))
    assert answer.status_code == 413
    assert answer.json()["field"] == "oversized"
    assert client.get("/iot/stats").json()["totals"]["rejected"] == {"oversized": 1}
