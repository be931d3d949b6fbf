"""An IoT node on a fresh data dir: DeviceRegistry on the embedded chain, a device fleet."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ailedger.iot import Ingester, Measurement, Reading, SignedMessage, device_topic
from ailedger.iot.node import IotNode, open_iot
from ailedger.platform import Platform

FIRMWARE = keccak(b"firmware 1.0")
NOW_MS = 1_800_000_000_000


@dataclass
class Fleet:
    """A node, its owner and three registered devices with their keys."""

    node: IotNode
    owner: LocalAccount
    devices: list[LocalAccount]

    def reading(
        self, device: LocalAccount, seq: int, *, timestamp: int = NOW_MS, celsius: float = 4.0
    ) -> Reading:
        values = (Measurement("temperature", round(celsius * 1000), "Cel"),)
        return Reading(device.address, seq, timestamp, values)

    @property
    def registry(self) -> str:
        """The fleet's DeviceRegistry: its address scopes the fleet's MQTT topics."""
        return self.node.registry.address

    def topic(self, device: LocalAccount) -> str:
        return device_topic(self.registry, device.address)

    def signed(self, device: LocalAccount, seq: int, **kwargs) -> SignedMessage:
        return self.node.codec.sign(device, self.reading(device, seq, **kwargs))

    def ingester(self, **kwargs) -> Ingester:
        kwargs.setdefault("clock", lambda: NOW_MS / 1000)
        return self.node.ingester(**kwargs)


@pytest.fixture
def fleet(settings) -> Iterator[Fleet]:
    with Platform.open(settings) as platform:
        node = open_iot(platform)
        owner = platform.account("fleet-owner", create=True, fund_wei=10**18)
        devices = [Account.from_key(bytes([0x21 + i]) * 32) for i in range(3)]
        for index, device in enumerate(devices):
            kind = "cold-room" if index < 2 else "reefer-truck"
            node.registry.register(owner, device.address, owner.address, kind, FIRMWARE)
        try:
            yield Fleet(node, owner, devices)
        finally:
            node.close()


def wall_clock_ms() -> int:
    return int(time.time() * 1000)
