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

Shared subscription: one and two `ailedger iot ingest` processes (each with
its log writer, one data dir) in one ``$share`` group, ``SCALE_READINGS``
readings with every 20th published twice; timed from "go" to the last message
decided on, and checked exactly once (each reading stored and logged once, each
replay refused once as ``replayed``). SIGKILL: the only ingester is killed
after its first stored batch while the publisher is still publishing, then
restarted with the same session; nothing lost, nothing doubled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

RUNS = 3
DEVICES = 20
READINGS = 10_000
MQTT_URL = "mqtt://127.0.0.1:1883"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
GOAL_PER_SECOND = 5_000
GOAL_RATIO = 2.0


def _publisher(
    mqtt_url: str, chain_id: int, registry: str, seed: int, readings: int, replay_every: int
) -> None:
    """The publisher process: sign ``readings`` readings, say ready, publish on "go";
    with ``replay_every`` n > 0, every n-th reading is published twice (a replay)."""
    from ailedger.contracts.typed_data import device_registry_domain
    from ailedger.iot import Measurement, MessageCodec, Reading, device_topic
    from ailedger.iot.simulator import simulated_devices
    from ailedger.iot.transport import MqttTransport

    codec = MessageCodec(device_registry_domain(chain_id, registry))
    devices = simulated_devices(DEVICES, seed)
    now = int(time.time() * 1000)
    messages = []
    for index in range(readings):
        device = devices[index % DEVICES]
        seq = index // DEVICES + 1
        values = (Measurement("temperature", 3000 + index % 500, "Cel"),)
        signed = codec.sign(device.account, Reading(device.address, seq, now, values))
        messages.append(
            (device_topic(codec.domain.verifying_contract, device.address), signed.to_bytes())
        )
        if replay_every and index % replay_every == 0:
            messages.append(messages[-1])
    publisher = MqttTransport(mqtt_url).publisher()
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
            publisher = _start_publisher(platform.chain.chain_id, node.registry.address, seed)
            go = time.perf_counter()
            publish_seconds = _publish(publisher)
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
        "publish_seconds": publish_seconds,
        "end_to_end_seconds": round(done - go, 3),
        "end_to_end_per_second": round(READINGS / (done - go), 1),
    }


def _start_publisher(
    chain_id: int,
    registry: str,
    seed: int,
    readings: int = READINGS,
    replay_every: int = 0,
    mqtt_url: str = MQTT_URL,
) -> subprocess.Popen:
    """A publisher process that has signed its readings and waits for :func:`_publish`."""
    publisher = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.iot_ingest", "publish", mqtt_url, str(chain_id),
         registry, str(seed), str(readings), str(replay_every)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert publisher.stdin and publisher.stdout
    if publisher.stdout.readline().strip() != "ready":
        raise RuntimeError("the publisher process did not start")
    return publisher


def _publish(publisher: subprocess.Popen) -> float:
    """Tell the publisher to go; the seconds it took until the broker acknowledged all."""
    _go(publisher)
    return _published(publisher)


def _go(publisher: subprocess.Popen) -> None:
    assert publisher.stdin
    publisher.stdin.write("go\n")
    publisher.stdin.flush()


def _published(publisher: subprocess.Popen) -> float:
    """Wait for the publisher to finish; the seconds it took to publish."""
    assert publisher.stdout
    line = publisher.stdout.readline().split()
    publisher.wait(timeout=120)
    return float(line[1])


# -- shared subscription and SIGKILL arms: `ailedger iot ingest` processes ----------------

SCALE_READINGS = 6_000
REPLAY_EVERY = 20  # every 20th reading published twice: the replays must be refused once each
REORDER_WINDOW = 1_000  # two ingesters store one device's readings slightly out of order


def _fleet_home(home: Path, seed: int) -> tuple[int, str]:
    """A data dir with the fleet registered; returns (chain id, DeviceRegistry address)."""
    from ailedger.config import Settings
    from ailedger.iot.node import open_iot
    from ailedger.iot.scenario import register_fleet
    from ailedger.iot.simulator import simulated_devices
    from ailedger.platform import Platform

    settings = Settings(home=home, password="bench", keystore_scrypt_n=16)
    with Platform.open(settings) as platform:
        node = open_iot(platform)
        owner = platform.account("fleet-owner", create=True, fund_wei=10**18)
        register_fleet(node, owner, simulated_devices(DEVICES, seed))
        node.platform.open_log("iot").close()  # registered once, before the writers race
        chain_id, registry = platform.chain.chain_id, node.registry.address
        node.close()
    return chain_id, registry


def _ingest_process(
    home: Path, group: str, client_id: str, mqtt_url: str = MQTT_URL
) -> subprocess.Popen:
    """`ailedger iot ingest` in its own process, subscribed when this returns."""
    env = dict(
        os.environ,
        AILEDGER_HOME=str(home),
        AILEDGER_PASSWORD="bench",
        AILEDGER_KEYSTORE_SCRYPT_N="16",
        AILEDGER_MQTT_URL=mqtt_url,
    )
    code = "import sys; from ailedger.cli.main import main; sys.argv[0] = 'ailedger'; main()"
    args = ["iot", "ingest", "--group", group, "--client-id", client_id,
            "--reorder-window", str(REORDER_WINDOW), "--idle-seconds", "4"]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    if "ingesting from" not in process.stdout.readline():
        raise RuntimeError("the ingester process did not subscribe")
    return process


def _accounted(home: Path) -> int:
    """Messages the ingesters have decided on so far: stored plus counted rejections."""
    from ailedger.config import Settings
    from ailedger.iot import open_message_store

    store = open_message_store(Settings(home=home))
    try:
        return store.message_count() + sum(store.rejection_counts().values())
    finally:
        store.close()


def _wait_accounted(home: Path, expected: int, processes: list[subprocess.Popen]) -> float:
    """Poll until ``expected`` messages are decided on; returns perf_counter then."""
    while _accounted(home) < expected:
        if all(process.poll() is not None for process in processes):
            raise RuntimeError("every ingester exited before all messages were decided on")
        time.sleep(0.02)
    return time.perf_counter()


def _exactly_once(home: Path, published: int) -> dict[str, object]:
    """Every published reading accepted once or refused with its reason; the log's
    records are the stored messages, each once."""
    from ailedger.config import Settings
    from ailedger.core.log import TransparencyLog, open_store
    from ailedger.iot import open_message_store

    settings = Settings(home=home)
    store = open_message_store(settings)
    log = TransparencyLog(open_store(settings, name="iot", read_only=True))
    try:
        unique = SCALE_READINGS
        records = [log.record(index) for index in range(log.size)]
        rejected: Counter[str] = Counter()
        for (_, reason), count in store.rejection_counts().items():  # summed over devices
            rejected[reason] += count
        accounting = {
            "published": published,
            "unique_readings": unique,
            "accepted": store.message_count(),
            "rejected": dict(rejected),
            "logged": len(records),
            "logged_distinct": len(set(records)),
        }
    finally:
        log.close()
        store.close()
    accounting["exactly_once"] = (
        accounting["accepted"] == unique
        and accounting["logged"] == accounting["logged_distinct"] == unique
        and set(accounting["rejected"]) <= {"replayed"}
        and sum(accounting["rejected"].values()) == published - unique
    )
    return accounting


def _scale_run(ingesters: int, seed: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory)
        chain_id, registry = _fleet_home(home, seed)
        group = f"scale-{seed}-{ingesters}-{time.time_ns()}"
        # Signed first: an ingester stops after 4 idle seconds.
        publisher = _start_publisher(chain_id, registry, seed, SCALE_READINGS, REPLAY_EVERY)
        processes = [_ingest_process(home, group, f"{group}-{index}") for index in range(ingesters)]
        published = SCALE_READINGS + len(range(0, SCALE_READINGS, REPLAY_EVERY))
        go = time.perf_counter()
        _publish(publisher)
        done = _wait_accounted(home, published, processes)
        for process in processes:
            if process.wait(timeout=120) != 0:
                raise RuntimeError(f"an ingester exited with {process.returncode}")
        accounting = _exactly_once(home, published)
    return {
        "ingesters": ingesters,
        "seconds": round(done - go, 3),
        "per_second": round(published / (done - go), 1),
        **accounting,
    }


@contextlib.contextmanager
def _private_broker(directory: Path) -> Iterator[str]:
    """A Mosquitto of our own that queues without limit for an offline session.

    The shared broker keeps at most 1000 messages (``max_queued_messages``) for a
    session whose client is down and drops the rest although it PUBACKed them to
    the publisher: an ingester's outage must fit in that queue. This broker has no
    limit, so the arm measures the ingester, not that setting.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\n"
    )
    broker = subprocess.Popen(
        [MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(500):
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.01)
        else:
            raise RuntimeError(f"{MOSQUITTO} did not listen on port {port}")
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        broker.terminate()
        broker.wait(timeout=10)


def _kill_run(seed: int) -> dict[str, object]:
    """SIGKILL the only ingester after its first stored batch, while the publisher is
    still publishing; a restart with the same session must end with every reading
    stored once, nothing acknowledged lost."""
    with tempfile.TemporaryDirectory() as directory, _private_broker(Path(directory)) as url:
        home = Path(directory) / "home"
        chain_id, registry = _fleet_home(home, seed)
        group, client_id = f"kill-{seed}-{time.time_ns()}", f"kill-{seed}-{time.time_ns()}"
        publisher = _start_publisher(
            chain_id, registry, seed, SCALE_READINGS, REPLAY_EVERY, mqtt_url=url
        )
        first = _ingest_process(home, group, client_id, mqtt_url=url)
        published = SCALE_READINGS + len(range(0, SCALE_READINGS, REPLAY_EVERY))
        _go(publisher)
        while _accounted(home) == 0:  # killed after its first stored batch, mid-stream
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        decided_before_kill = _accounted(home)
        _published(publisher)
        second = _ingest_process(home, group, client_id, mqtt_url=url)
        if second.wait(timeout=180) != 0:
            raise RuntimeError(f"the restarted ingester exited with {second.returncode}")
        accounting = _exactly_once(home, published)
    # Redelivered copies of readings stored before the kill are refused as replays on
    # top of the published replays, so "exactly_once" is judged on the stored side.
    redelivered = sum(accounting["rejected"].values()) - (published - SCALE_READINGS)
    accounting["exactly_once"] = (
        accounting["accepted"] == SCALE_READINGS
        and accounting["logged"] == accounting["logged_distinct"] == SCALE_READINGS
        and set(accounting["rejected"]) <= {"replayed"}
    )
    return {
        "decided_before_kill": decided_before_kill,
        "killed_mid_stream": decided_before_kill < published,
        "redelivered_after_restart": redelivered,
        "lost": SCALE_READINGS - accounting["accepted"],
        **accounting,
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
        "verification_cost_ratio_runs": [
            round(u["per_second"] / v["per_second"], 3)
            for v, u in zip(verified, unverified, strict=True)
        ],
        **_shared_subscription_arm(),
        "sigkill": _kill_run(seed=300),
    }


def _shared_subscription_arm() -> dict[str, object]:
    """Two `iot ingest` processes in one shared subscription against one, interleaved."""
    one, two = [], []
    for attempt in range(RUNS):
        one.append(_scale_run(1, seed=200 + attempt))
        two.append(_scale_run(2, seed=200 + attempt))
    one_median = statistics.median(r["per_second"] for r in one)
    two_median = statistics.median(r["per_second"] for r in two)
    return {
        "shared_subscription": {
            "readings_per_run": SCALE_READINGS,
            "replay_every": REPLAY_EVERY,
            "note": "timed from the publisher's go to the last message decided on; the "
            "publisher, both ingesters and Mosquitto share this machine's 2 cores",
            "one_ingester_runs": one,
            "two_ingester_runs": two,
            "one_per_second_median": one_median,
            "two_per_second_median": two_median,
            "two_vs_one_ratio": round(two_median / one_median, 3),
            "exactly_once_every_run": all(r["exactly_once"] for r in one + two),
        }
    }


if __name__ == "__main__" and len(sys.argv) >= 2 and sys.argv[1] == "publish":
    _publisher(sys.argv[2], int(sys.argv[3]), sys.argv[4], *map(int, sys.argv[5:8]))
