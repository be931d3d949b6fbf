"""One data dir's IoT parts, opened together: registry, cache, codec, message store, log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from ailedger.core.log import BatchPolicy
from ailedger.iot.ingest import Ingester, LogWriter
from ailedger.iot.messages import MessageCodec
from ailedger.iot.registry import DeviceRegistryClient, RegistryCache, ensure_device_registry
from ailedger.iot.store import MessageStore, open_message_store
from ailedger.platform import Platform

__all__ = ["IOT_LOG", "IotNode", "iot_session", "open_iot"]

IOT_LOG = "iot"


@dataclass
class IotNode:
    """The registry and stores an ingester, a CLI command or a page works with."""

    platform: Platform
    registry: DeviceRegistryClient
    cache: RegistryCache
    store: MessageStore

    @property
    def codec(self) -> MessageCodec:
        return MessageCodec(self.registry.domain)

    @property
    def operator(self) -> LocalAccount:
        return self.platform.operator

    def ingester(self, **options: Any) -> Ingester:
        """An :class:`Ingester` on this node's cache and store (options as its keywords)."""
        return Ingester(self.codec, self.cache, self.store, **options)

    def log_writer(self, policy: BatchPolicy | None = None) -> LogWriter:
        """The writer of the ``iot`` log (needs the keystore: it signs and anchors heads)."""
        return LogWriter(self.store, self.platform.open_log(IOT_LOG, policy))

    def close(self) -> None:
        self.cache.close()
        self.store.close()


@contextmanager
def iot_session(platform: Platform) -> Iterator[IotNode]:
    """:func:`open_iot`, caught up with the registry's events, closed on exit."""
    node = open_iot(platform)
    try:
        node.cache.sync()
        yield node
    finally:
        node.close()


def open_iot(platform: Platform) -> IotNode:
    """Deploy (or find) the DeviceRegistry and open the cache and message store."""
    platform.deploy_core_contracts()
    registry = ensure_device_registry(platform.chain, platform.book, platform.operator)
    home = platform.settings.home / "iot"
    cache = RegistryCache(registry, home / f"registry-{platform.chain.chain_id}.sqlite3")
    return IotNode(platform, registry, cache, open_message_store(platform.settings))
