"""SIGKILL an `iot ingest` process mid-stream: nothing acknowledged is lost, nothing doubled.

QoS 1 with acknowledgements sent only after the store committed (and the log
appended) means the broker redelivers whatever the killed ingester had not
acknowledged; the store's unique (device, seq) turns the ones it had stored
into counted ``replayed`` rejections.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from eth_account import Account

from ailedger.config import Settings
from ailedger.iot import Measurement, Reading, device_topic, open_message_store
from ailedger.iot.node import open_iot
from ailedger.iot.transport import MqttTransport
from ailedger.platform import Platform
from tests.conftest import require_service

pytestmark = pytest.mark.slow
READINGS = 4500
DEVICES = [Account.from_key(bytes([0x71 + i]) * 32) for i in range(3)]


def _ingester(settings: Settings, group: str, client_id: str) -> subprocess.Popen:
    env = dict(
        os.environ,
        AILEDGER_HOME=str(settings.home),
        AILEDGER_PASSWORD=settings.password,
        AILEDGER_KEYSTORE_SCRYPT_N="16",
    )
    code = "import sys; from ailedger.cli.main import main; sys.argv[0] = 'ailedger'; main()"
    args = ["iot", "ingest", "--group", group, "--client-id", client_id, "--idle-seconds", "5"]
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert "ingesting from" in process.stdout.readline()  # subscribed
    return process


def test_killed_ingester_loses_and_doubles_nothing(settings):
    require_service("Mosquitto", "127.0.0.1", 1883)
    with Platform.open(settings) as platform:
        node = open_iot(platform)
        owner = platform.account("fleet-owner", create=True, fund_wei=10**18)
        for device in DEVICES:
            node.registry.register(owner, device.address, owner.address, "cold-room", b"\x01" * 32)
        codec = node.codec
        node.close()
    group, client_id = "crash" + uuid.uuid4().hex[:8], "crash-" + uuid.uuid4().hex[:8]
    first = _ingester(settings, group, client_id)
    publisher = MqttTransport().publisher()
    now = int(time.time() * 1000)
    for index in range(READINGS):
        device = DEVICES[index % len(DEVICES)]
        values = (Measurement("temperature", index, "Cel"),)
        reading = Reading(device.address, index // len(DEVICES) + 1, now, values)
        publisher.publish(
            device_topic(codec.domain.verifying_contract, device.address),
            codec.sign(device, reading).to_bytes(),
        )
    publisher.close()
    store = open_message_store(settings)
    try:
        while store.message_count() == 0:  # after its first batch, wherever exactly
            assert first.poll() is None, "the ingester exited early"
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert store.message_count() < READINGS
        second = _ingester(settings, group, client_id)
        assert second.wait(timeout=120) == 0
        assert store.message_count() == READINGS
        rejected = store.rejection_counts()
        assert set(reason for _, reason in rejected) <= {"replayed"}
    finally:
        store.close()
    with Platform.open(settings) as platform:
        log = platform.open_log("iot")
        assert log.size == READINGS  # every stored reading logged once
        log.close()
