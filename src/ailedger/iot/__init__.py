"""Secure IoT at the edge: registered devices, signed readings, replay-proof ingestion.

Public API (everything else in this package may change)::

    DeviceRegistryClient(contract); ensure_device_registry(chain, book, operator)
    RegistryCache(registry, path).sync() / .get(device)    # follows the registry's events
    MessageCodec(domain).sign(account, Reading|Action) -> SignedMessage; .signer(signed)
    Reading, Action, Measurement, SignedMessage, parse_message(payload), RejectReason
    open_message_store(settings) -> MessageStore            # unique (device, seq)
    Ingester(codec, cache, store, max_skew_ms=...).ingest_many([(payload, topic)])
    LogWriter(store, log).drain()                           # accepted messages -> `iot` log
    device_topic(registry, device); shared_subscription(group, registry)
"""

from ailedger.iot.ingest import DEFAULT_MAX_SKEW_MS, Ingester, LogWriter, Outcome, fleet_stats
from ailedger.iot.messages import (
    MAX_PAYLOAD_BYTES,
    Action,
    Measurement,
    MessageCodec,
    Reading,
    Rejected,
    RejectReason,
    SignedMessage,
    checksum_address,
    parse_message,
)
from ailedger.iot.registry import (
    DeviceInfo,
    DeviceRegistryClient,
    DeviceStatus,
    RegistryCache,
    ensure_device_registry,
)
from ailedger.iot.store import MessageStore, open_message_store
from ailedger.iot.topics import device_of_topic, device_topic, shared_subscription

__all__ = [
    "DEFAULT_MAX_SKEW_MS",
    "MAX_PAYLOAD_BYTES",
    "Action",
    "DeviceInfo",
    "DeviceRegistryClient",
    "DeviceStatus",
    "Ingester",
    "LogWriter",
    "Measurement",
    "MessageCodec",
    "MessageStore",
    "Outcome",
    "Reading",
    "RegistryCache",
    "RejectReason",
    "Rejected",
    "SignedMessage",
    "checksum_address",
    "device_of_topic",
    "device_topic",
    "ensure_device_registry",
    "fleet_stats",
    "open_message_store",
    "parse_message",
    "shared_subscription",
]
