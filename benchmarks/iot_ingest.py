"""Verified device readings ingested per second, end to end over MQTT, vs verification off.

Setup per run: a fresh data dir (embedded chain, DeviceRegistry, ``DEVICES``
registered devices), an ingester subscribed to Mosquitto on 127.0.0.1:1883
through a shared subscription, and a publisher in another process that signed
``READINGS`` readings beforehand (signing is the devices' cost, not the
ingester's) and publishes them with QoS 1 when told to go. Mosquitto grants a
publisher 20 unacknowledged messages (its Receive Maximum), so one paho
publisher manages only hundreds to a few thousand a second on this machine:
the ingester is therefore timed from the moment the broker acknowledged the
last publish (the subscriber's Receive Maximum of 65535 lets the broker pass
everything on) to the last reading stored durably (SQLite commit, then the
``iot`` log append; each batch PUBACKed only after both). The end-to-end time
from "go" is recorded too. The baseline is the same pipeline with
``verify=False`` (no registry or signature check; parsing, skew, sequence,
store and log unchanged). Goals (issue 13): >= 5,000 verified readings/s and
verification costing at most 2x. Three runs of each arm, interleaved.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 3
DEVICES = 20
READINGS = 10_000
MQTT_URL = "mqtt://127.0.0.1:1883"
GOAL_PER_SECOND = 5_000
GOAL_RATIO = 2.0


def _publisher(chain_id: int, registry: str, seed: int, group_hint: str) -> None:
    """The publisher process: sign READINGS readings, say ready, publish on "go"."""
    from ailedger.contracts.typed_data import device_registry_domain
    from ailedger.iot import Measurement, MessageCodec, Reading, device_topic
    from ailedger.iot.simulator import simulated_devices
    from ailedger.iot.transport import MqttTransport

    codec = MessageCodec(device_registry_domain(chain_id, registry))
    devices = simulated_devices(DEVICES, seed)
    now = int(time.time() * 1000)
    messages = []
    for index in range(READINGS):
        device = devices[index % DEVICES]
        seq = index // DEVICES + 1
        values = (Measurement("temperature", 3000 + index % 500, "Cel"),)
        signed = codec.sign(device.account, Reading(device.address, seq, now, values))
        messages.append(
            (device_topic(codec.domain.verifying_contract, device.address), signed.to_bytes())
        )
    publisher = MqttTransport(MQTT_URL).publisher()
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for topic, payload in messages:
        publisher.publish(topic, payload)
    publisher.flush()
    print(f"published {time.perf_counter() - started:.3f}", flush=True)
    publisher.close()


def _one_run(verify: bool, seed: int) -> dict[str, float]:
    from ailedger.config import Settings
    from ailedger.iot.node import open_iot
    from ailedger.iot.pipeline import run_ingester
    from ailedger.iot.scenario import register_fleet
    from ailedger.iot.simulator import simulated_devices
    from ailedger.iot.transport import MqttTransport
    from ailedger.platform import Platform

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), password="bench", keystore_scrypt_n=16)
        with Platform.open(settings) as platform:
            node = open_iot(platform)
            owner = platform.account("fleet-owner", create=True, fund_wei=10**18)
            register_fleet(node, owner, simulated_devices(DEVICES, seed))
            ingester = node.ingester(verify=verify)
            ingester.refresh()
            writer = node.log_writer()
            group = f"bench-{seed}-{int(verify)}-{time.time_ns()}"
            subscriber = MqttTransport(MQTT_URL).subscriber(group, node.registry.address)
            publisher = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.iot_ingest", "publish",
                 str(platform.chain.chain_id), node.registry.address, str(seed), group],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert publisher.stdin and publisher.stdout
            if publisher.stdout.readline().strip() != "ready":
                raise RuntimeError("the publisher process did not start")
            go = time.perf_counter()
            publisher.stdin.write("go\n")
            publisher.stdin.flush()
            publish_line = publisher.stdout.readline().split()
            publisher.wait(timeout=60)
            # The broker has every reading (each PUBACKed) and, within the subscriber's
            # Receive Maximum, has sent them on; from here the ingester alone is timed.
            started = time.perf_counter()
            totals = run_ingester(
                subscriber, ingester, writer, until=READINGS, batch=2000, idle_seconds=30
            )
            done = time.perf_counter()
            seconds = done - started
            subscriber.close()
            stored, logged = node.store.message_count(), writer.log.size
            node.close()
    if totals.accepted != READINGS or stored != READINGS or logged != READINGS:
        raise RuntimeError(
            f"accounting: received {totals.received}, accepted {totals.accepted}, "
            f"stored {stored}, logged {logged}, rejected {dict(totals.rejected)}"
        )
    return {
        "ingest_seconds": round(seconds, 3),
        "per_second": round(READINGS / seconds, 1),
        "publish_seconds": float(publish_line[1]),
        "end_to_end_seconds": round(done - go, 3),
        "end_to_end_per_second": round(READINGS / (done - go), 1),
    }


def run() -> dict[str, object]:
    from tests.conftest import require_service  # noqa: F401 - same check as the tests

    verified, unverified = [], []
    for attempt in range(RUNS):
        verified.append(_one_run(True, seed=attempt))
        unverified.append(_one_run(False, seed=100 + attempt))
    best_verified = statistics.median(r["per_second"] for r in verified)
    best_unverified = statistics.median(r["per_second"] for r in unverified)
    ratio = best_unverified / best_verified
    return {
        "readings_per_run": READINGS,
        "devices": DEVICES,
        "transport": f"MQTT 5, QoS 1, Mosquitto at {MQTT_URL}, publisher in another process",
        "verified_runs": verified,
        "unverified_runs": unverified,
        "verified_per_second_median": best_verified,
        "unverified_per_second_median": best_unverified,
        "verification_cost_ratio": round(ratio, 3),
        "goal_per_second": GOAL_PER_SECOND,
        "goal_ratio": GOAL_RATIO,
        "meets_throughput_goal": best_verified >= GOAL_PER_SECOND,
        "meets_ratio_goal": ratio <= GOAL_RATIO,
    }


if __name__ == "__main__" and len(sys.argv) >= 2 and sys.argv[1] == "publish":
    _publisher(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5])
