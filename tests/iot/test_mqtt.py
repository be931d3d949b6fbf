"""Readings over MQTT 5 on the real Mosquitto: QoS 1, a topic per device, shared subscriptions."""

from __future__ import annotations

import threading
import uuid

import pytest

from ailedger.iot import MAX_PAYLOAD_BYTES, device_topic
from ailedger.iot.pipeline import run_ingester
from ailedger.iot.transport import LocalTransport, MqttTransport, TransportError, open_transport
from tests.conftest import require_service


@pytest.fixture
def broker() -> MqttTransport:
    require_service("Mosquitto", "127.0.0.1", 1883)
    return MqttTransport("mqtt://127.0.0.1:1883")


def _group() -> str:
    return "test-" + uuid.uuid4().hex[:10]


def test_readings_over_mqtt_are_ingested_and_bad_ones_counted(fleet, broker):
    subscriber = broker.subscriber(_group(), fleet.registry)
    publisher = broker.publisher()
    device, other = fleet.devices[0], fleet.devices[1]
    good = [fleet.signed(device, seq).to_bytes() for seq in range(1, 21)]
    for payload in good:
        publisher.publish(fleet.topic(device), payload)
    publisher.publish(fleet.topic(device), good[0])  # replay
    publisher.publish(fleet.topic(other), fleet.signed(device, 50).to_bytes())  # topic
    publisher.publish(fleet.topic(device), b"x" * (MAX_PAYLOAD_BYTES + 1))
    publisher.publish(fleet.topic(device), b"{not json")
    publisher.flush()
    totals = run_ingester(subscriber, fleet.ingester(), fleet.node.log_writer(), until=24)
    subscriber.close()
    publisher.close()
    assert totals.accepted == 20
    assert totals.rejected == {"replayed": 1, "wrong_topic": 1, "oversized": 1, "malformed": 1}
    assert fleet.node.store.message_count() == 20
    assert fleet.node.store.logged_count() == 20


def test_shared_subscription_splits_a_fleet_between_ingesters_exactly_once(fleet, broker):
    group = _group()
    subscribers = [
        broker.subscriber(group, fleet.registry),
        broker.subscriber(group, fleet.registry),
    ]
    publisher = broker.publisher()
    expected = 0
    for device in fleet.devices:
        for seq in range(1, 41):
            publisher.publish(fleet.topic(device), fleet.signed(device, seq).to_bytes())
            expected += 1
    publisher.flush()
    stop = threading.Event()
    results = [None, None]

    def work(position: int) -> None:
        # Two ingesters store one device's readings slightly out of order: a window.
        ingester = fleet.ingester(reorder_window=1000)
        results[position] = run_ingester(subscribers[position], ingester, stop=stop)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    # Stop once the store holds every reading: what both ingesters accepted, together.
    while fleet.node.store.message_count() < expected:
        threads[0].join(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    for subscriber in subscribers:
        subscriber.close()
    publisher.close()
    assert sum(r.received for r in results) == expected
    assert sum(r.accepted for r in results) == expected
    assert all(r.received > 0 for r in results)  # the broker split the traffic


def test_unacknowledged_messages_are_redelivered_to_a_restarted_ingester(fleet, broker):
    group, client_id = _group(), "ingester-" + uuid.uuid4().hex[:8]
    first = broker.subscriber(group, fleet.registry, client_id=client_id)
    publisher = broker.publisher()
    device = fleet.devices[0]
    for seq in range(1, 6):
        publisher.publish(fleet.topic(device), fleet.signed(device, seq).to_bytes())
    publisher.flush()
    received = []
    while len(received) < 5:
        received += first.receive(5, timeout=1.0)  # received, never stored nor acknowledged
    first.close()
    again = broker.subscriber(group, fleet.registry, client_id=client_id)
    totals = run_ingester(again, fleet.ingester(), until=5)
    again.close()
    publisher.close()
    assert totals.accepted == 5


def test_in_process_transport_runs_the_same_pipeline(fleet):
    transport = LocalTransport()
    subscriber = transport.subscriber("demo", fleet.registry)
    publisher = transport.publisher()
    device = fleet.devices[2]
    for seq in range(1, 4):
        publisher.publish(fleet.topic(device), fleet.signed(device, seq).to_bytes())
    totals = run_ingester(subscriber, fleet.ingester(), until=3)
    assert totals.accepted == 3


def test_an_explicit_broker_url_that_does_not_answer_is_an_error():
    with pytest.raises(TransportError, match=r"no MQTT broker answers at mqtt://127\.0\.0\.1:9"):
        open_transport("mqtt://127.0.0.1:9")


def test_without_a_broker_the_default_is_the_in_process_transport(monkeypatch):
    monkeypatch.setattr(MqttTransport, "reachable", lambda self, timeout=1.0: False)
    assert isinstance(open_transport(None), LocalTransport)


def test_with_mosquitto_up_the_default_is_mqtt(broker):
    transport = open_transport(None)
    assert isinstance(transport, MqttTransport)
    assert transport.description == "MQTT 5 broker at 127.0.0.1:1883"


@pytest.mark.parametrize("transport", ["mqtt", "in-process"])
def test_fleets_sharing_a_broker_never_receive_each_others_messages(fleet, transport):
    if transport == "mqtt":
        require_service("Mosquitto", "127.0.0.1", 1883)
    shared = MqttTransport("mqtt://127.0.0.1:1883") if transport == "mqtt" else LocalTransport()
    other_fleet = "0x" + "12" * 20
    group = _group()  # the same group name in both fleets
    ours, theirs = shared.subscriber(group, fleet.registry), shared.subscriber(group, other_fleet)
    publisher = shared.publisher()
    device = fleet.devices[0].address
    publisher.publish(device_topic(other_fleet, device), b"theirs")
    publisher.publish(fleet.topic(fleet.devices[0]), b"ours")
    publisher.flush()
    received = {}
    for name, subscriber in (("ours", ours), ("theirs", theirs)):
        deliveries = subscriber.receive(10, 2.0)
        for delivery in deliveries:
            delivery.ack()
        received[name] = [delivery.payload for delivery in deliveries]
        subscriber.close()
    publisher.close()
    assert received == {"ours": [b"ours"], "theirs": [b"theirs"]}
