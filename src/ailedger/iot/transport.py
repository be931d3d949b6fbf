"""How device messages travel: MQTT 5 on a real broker, or an in-process stand-in.

Both give the same two halves. A *publisher* sends a payload on a device's
topic with QoS 1 and can wait until the broker has acknowledged everything.
A *subscriber* of an ingester group receives deliveries in batches and
acknowledges them only after the ingester stored them (manual PUBACK), so a
killed ingester's unacknowledged messages are redelivered; with a shared
subscription (``$share/<group>/...``) the broker splits a fleet's traffic
between the group's subscribers.

:class:`MqttTransport` uses paho-mqtt against a broker such as Mosquitto;
:class:`LocalTransport` keeps a queue per group in memory, for a demo on a
machine without a broker. :func:`open_transport` picks one.
"""

from __future__ import annotations

import itertools
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ailedger.errors import AILedgerError, InvalidInputError
from ailedger.iot.topics import fleet_prefix, shared_subscription

__all__ = [
    "DEFAULT_MQTT_URL",
    "Delivery",
    "LocalTransport",
    "MqttTransport",
    "Publisher",
    "Subscriber",
    "Transport",
    "open_transport",
]

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
# Unacknowledged messages the broker may send one subscriber (MQTT 5 Receive Maximum); a
# batch is acknowledged only once stored; beyond this (and the broker's queue of 1000) a
# broker drops QoS 1 messages for a slow subscriber, so it is the protocol maximum.
RECEIVE_MAXIMUM = 65535
SESSION_EXPIRY_SECONDS = 3600


class TransportError(AILedgerError):
    """The broker is unreachable or refused us."""


@dataclass(frozen=True)
class Delivery:
    """One received message; ``ack`` tells the broker it need not be redelivered."""

    topic: str
    payload: bytes
    ack: Callable[[], None] = field(repr=False, compare=False)


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes) -> None: ...

    def flush(self, timeout: float = 30.0) -> None: ...

    def close(self) -> None: ...


class Subscriber(Protocol):
    def receive(self, max_items: int, timeout: float) -> list[Delivery]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    name: str
    description: str

    def publisher(self) -> Publisher: ...

    def subscriber(
        self, group: str, registry: str, *, client_id: str | None = None
    ) -> Subscriber: ...


# --- MQTT -------------------------------------------------------------------------------------


def _parse_url(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
        raise InvalidInputError(
            f"mqtt_url: expected mqtt://host:port, got {url!r}", field="mqtt_url"
        )
    return parsed.hostname, parsed.port or 1883


class MqttTransport:
    """MQTT 5 over TCP with paho-mqtt."""

    name = "mqtt"

    def __init__(self, url: str = DEFAULT_MQTT_URL) -> None:
        self.url = url
        self.host, self.port = _parse_url(url)
        self.description = f"MQTT 5 broker at {self.host}:{self.port}"

    def reachable(self, timeout: float = 1.0) -> bool:
        """Whether something accepts TCP connections at the broker's address."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return True
        except OSError:
            return False

    def publisher(self) -> MqttPublisher:
        return MqttPublisher(self)

    def subscriber(
        self, group: str, registry: str, *, client_id: str | None = None
    ) -> MqttSubscriber:
        return MqttSubscriber(self, group, registry, client_id=client_id)

    def _client(self, client_id: str, *, manual_ack: bool = False) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=manual_ack,
        )
        client.max_inflight_messages_set(RECEIVE_MAXIMUM)
        client.max_queued_messages_set(0)
        return client

    def _connect(self, client: mqtt.Client, *, clean_start: bool) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        if not clean_start:
            properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        connected = threading.Event()
        refused: list[str] = []

        def on_connect(_client, _userdata, _flags, reason, _properties) -> None:
            if reason.is_failure:
                refused.append(str(reason))
            connected.set()

        client.on_connect = on_connect
        try:
            client.connect(self.host, self.port, clean_start=clean_start, properties=properties)
        except OSError as error:
            raise TransportError(f"cannot reach the {self.description}: {error}") from None
        client.loop_start()
        if not connected.wait(10) or refused:
            client.loop_stop()
            reason = refused[0] if refused else "no answer within 10 s"
            raise TransportError(f"the {self.description} refused the connection: {reason}")


class MqttPublisher:
    """Publishes with QoS 1; :meth:`flush` waits for every PUBACK."""

    def __init__(self, transport: MqttTransport) -> None:
        self._client = transport._client(f"ailedger-pub-{uuid.uuid4().hex[:12]}")
        transport._connect(self._client, clean_start=True)
        self._last: mqtt.MQTTMessageInfo | None = None
        self._pending: list[mqtt.MQTTMessageInfo] = []

    def publish(self, topic: str, payload: bytes) -> None:
        info = self._client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise TransportError(f"publish on {topic} failed: {mqtt.error_string(info.rc)}")
        self._pending.append(info)
        if len(self._pending) >= 10_000:
            self.flush()

    def flush(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for info in self._pending:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                raise TransportError(f"the broker did not acknowledge within {timeout} s")
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        self._client.disconnect()
        self._client.loop_stop()


class MqttSubscriber:
    """A member of ingester group ``group`` on the shared subscription of the fleet in
    ``registry``.

    With a fixed ``client_id`` the session outlives the connection (clean start
    off, session expiry set), so a restarted ingester gets what it had not
    acknowledged. Without one the session ends with the connection: an offline
    persistent member would keep receiving its share of the group's messages.
    """

    def __init__(
        self, transport: MqttTransport, group: str, registry: str, *, client_id: str | None
    ) -> None:
        self._queue: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        persistent = client_id is not None
        client_id = client_id or f"ailedger-ingest-{group}-{uuid.uuid4().hex[:8]}"
        self._client = transport._client(client_id, manual_ack=True)
        self._client.on_message = self._on_message
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *_args: subscribed.set()
        transport._connect(self._client, clean_start=not persistent)
        self._client.subscribe(
            shared_subscription(group, registry), options=SubscribeOptions(qos=1)
        )
        if not subscribed.wait(10):
            raise TransportError(f"the {transport.description} did not confirm the subscription")

    def _on_message(
        self, client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        mid, qos = message.mid, message.qos
        self._queue.put(
            Delivery(message.topic, bytes(message.payload), lambda: client.ack(mid, qos))
        )

    def receive(self, max_items: int, timeout: float) -> list[Delivery]:
        return _drain(self._queue, max_items, timeout)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


# --- in process -------------------------------------------------------------------------------


class LocalTransport:
    """An in-process broker: one queue per group, messages split between a group's members."""

    name = "in-process"
    description = "in-process transport (no broker)"

    def __init__(self) -> None:
        # One queue per (group, fleet topic prefix): like a broker's shared subscription.
        self._groups: dict[tuple[str, str], queue.SimpleQueue[Delivery]] = {}
        self._lock = threading.Lock()

    def publisher(self) -> _LocalPublisher:
        return _LocalPublisher(self)

    def subscriber(
        self, group: str, registry: str, *, client_id: str | None = None
    ) -> _LocalSubscriber:
        shared_subscription(group, registry)  # the same rules as MQTT's
        with self._lock:
            key = (group, fleet_prefix(registry))
            group_queue = self._groups.setdefault(key, queue.SimpleQueue())
        return _LocalSubscriber(group_queue)

    def _deliver(self, topic: str, payload: bytes) -> None:
        with self._lock:
            groups = list(self._groups.items())
        for (_, prefix), group_queue in groups:
            if topic.startswith(prefix):  # only a fleet's topics reach its groups
                group_queue.put(Delivery(topic, payload, _no_ack))


def _no_ack() -> None:
    """In process nothing is redelivered, so there is nothing to acknowledge."""


class _LocalPublisher:
    def __init__(self, transport: LocalTransport) -> None:
        self._transport = transport

    def publish(self, topic: str, payload: bytes) -> None:
        self._transport._deliver(topic, payload)

    def flush(self, timeout: float = 30.0) -> None:
        """Delivery is synchronous: nothing is ever in flight."""

    def close(self) -> None:
        """Nothing to release."""


class _LocalSubscriber:
    def __init__(self, group_queue: queue.SimpleQueue[Delivery]) -> None:
        self._queue = group_queue

    def receive(self, max_items: int, timeout: float) -> list[Delivery]:
        return _drain(self._queue, max_items, timeout)

    def close(self) -> None:
        """Nothing to release."""


def _drain(source: queue.SimpleQueue[Delivery], max_items: int, timeout: float) -> list[Delivery]:
    """Up to ``max_items`` deliveries: waits up to ``timeout`` for the first only."""
    try:
        batch = [source.get(timeout=timeout)]
    except queue.Empty:
        return []
    for _ in itertools.repeat(None, max_items - 1):
        try:
            batch.append(source.get_nowait())
        except queue.Empty:
            break
    return batch


def open_transport(mqtt_url: str | None = None) -> Transport:
    """MQTT at ``mqtt_url`` (or 127.0.0.1:1883) when a broker answers there, else in process.

    An explicitly given URL that does not answer is an error, not a silent fallback.
    """
    transport = MqttTransport(mqtt_url or DEFAULT_MQTT_URL)
    if transport.reachable():
        return transport
    if mqtt_url:
        raise TransportError(f"no MQTT broker answers at {mqtt_url}")
    return LocalTransport()
