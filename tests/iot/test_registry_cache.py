"""The registry cache follows DeviceRegistry events and survives a restart."""

from __future__ import annotations

from eth_account import Account

from ailedger.iot import DeviceStatus, RegistryCache
from ailedger.iot.node import open_iot

from .conftest import FIRMWARE


def test_cache_sees_registrations_and_status_changes(fleet):
    cache, registry, owner = fleet.node.cache, fleet.node.registry, fleet.owner
    cache.sync()
    device = fleet.devices[0].address
    assert cache.get(device).status is DeviceStatus.ACTIVE
    assert cache.get(device).kind == "cold-room"
    registry.suspend(owner, device)
    assert cache.sync() == 1
    assert cache.get(device).status is DeviceStatus.SUSPENDED
    new_key = Account.from_key(b"\x66" * 32).address
    registry.rotate_key(owner, device, new_key)
    registry.revoke(owner, device)
    cache.sync()
    assert (cache.get(device).key, cache.get(device).status) == (new_key, DeviceStatus.REVOKED)


def test_sync_reads_only_new_blocks(fleet):
    cache = fleet.node.cache
    cache.sync()
    assert cache.sync() == 0
    assert cache.last_block == fleet.node.platform.chain.block_number()


def test_cache_survives_restart_and_resumes_from_last_block(fleet, settings):
    cache = fleet.node.cache
    cache.sync()
    seen = cache.last_block
    path = settings.home / "iot" / "restart.sqlite3"
    first = RegistryCache(fleet.node.registry, path)
    first.sync()
    first.close()
    late = Account.from_key(b"\x67" * 32).address
    fleet.node.registry.register(fleet.owner, late, fleet.owner.address, "reefer-truck", FIRMWARE)
    reopened = RegistryCache(fleet.node.registry, path)
    assert reopened.get(fleet.devices[0].address) is not None  # from disk, before any sync
    assert reopened.get(late) is None
    assert reopened.sync() == 1  # only the event after the last seen block
    assert reopened.get(late).kind == "reefer-truck"
    assert reopened.last_block > seen
    reopened.close()


def test_reopening_the_node_reuses_registry_and_cache(fleet):
    node = open_iot(fleet.node.platform)
    try:
        assert node.registry.address == fleet.node.registry.address
    finally:
        node.close()


def test_on_chain_check_settles_an_ingested_reading(fleet):
    device = fleet.devices[0]
    signed = fleet.signed(device, 1)
    reading = signed.message
    values = [(m.name, m.value, m.unit) for m in reading.values]
    as_tuple = (reading.device, reading.seq, reading.timestamp, values, reading.location)
    contract = fleet.node.registry.contract
    assert contract.reading_digest(as_tuple) == fleet.node.codec.digest(reading)
    assert contract.verify_reading(as_tuple, signed.signature) is True
    forged = fleet.node.codec.sign(fleet.devices[1], reading)
    assert contract.verify_reading(as_tuple, forged.signature) is False
