"""The simulated fleet: realistic streams, labelled faults, the edge detector, actions logged."""

from __future__ import annotations

import json

import pytest

from ailedger.iot.edge import DetectorParams, EdgeDetector
from ailedger.iot.scenario import run_scenario
from ailedger.iot.simulator import Simulator, simulated_devices
from ailedger.iot.transport import LocalTransport, MqttTransport
from tests.conftest import require_service


def test_every_faulty_message_is_rejected_for_its_labelled_reason(fleet):
    result = run_scenario(fleet.node, LocalTransport(), fleet.owner, devices=4, steps=200, seed=3)
    rejections = result.report.expected_rejections
    for reason in ("replayed", "bad_signature", "revoked_device", "clock_skew", "malformed"):
        assert rejections[reason] > 0, reason
    assert result.accounted, (result.outcomes, result.report.to_dict())
    assert fleet.node.store.logged_count() == result.outcomes["accepted"]


def test_detector_fires_on_failures_and_devices_sign_actions(fleet):
    result = run_scenario(
        fleet.node, LocalTransport(), fleet.owner, devices=4, steps=288, seed=5, faults=False
    )
    detector = result.report.detector
    assert detector.episodes > 0
    assert detector.recall >= 0.5 and detector.precision >= 0.5, detector.to_dict()
    assert result.report.actions["alarm"] > 0
    actions = [m for m in fleet.node.store.messages(limit=100_000) if m.type == "action"]
    assert len(actions) == sum(result.report.actions.values())
    action = json.loads(actions[0].record)["message"]
    trigger = fleet.node.store.find(action["device"], action["triggerSeq"])
    assert trigger is not None and trigger.type == "reading"
    assert action["modelId"] == "0x" + DetectorParams().model_id().hex()


def test_simulation_over_mosquitto_accounts_for_every_message(fleet):
    require_service("Mosquitto", "127.0.0.1", 1883)
    transport = MqttTransport("mqtt://127.0.0.1:1883")
    result = run_scenario(fleet.node, transport, fleet.owner, devices=3, steps=100, seed=11)
    assert result.accounted, (result.outcomes, result.report.to_dict())


def test_detector_stays_quiet_on_a_steady_stream():
    detector = EdgeDetector()
    assert not any(detector.update(3.0 + 0.01 * (i % 5)) for i in range(300))


def test_same_seed_gives_the_same_fleet_and_streams(fleet):
    devices = simulated_devices(2, seed=9)
    assert [d.address for d in devices] == [d.address for d in simulated_devices(2, seed=9)]
    runs = []
    for _ in range(2):
        published: list[tuple[str, float]] = []

        def capture(_topic, payload, out=published):
            data = json.loads(payload)
            if data.get("type") == "reading":
                out.append((data["device"], data["values"][0]["value"]))

        Simulator(
            fleet.node.codec, devices, steps=50, seed=9, faults=False, clock=lambda: 1.8e9
        ).run(capture)
        runs.append(published)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("kind", ["cold-room", "reefer-truck"])
def test_devices_alternate_kinds(kind):
    assert kind in {d.kind for d in simulated_devices(2)}
