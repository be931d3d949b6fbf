"""The DeviceRegistry contract from Python, and a cache of it that follows its events.

:class:`DeviceRegistryClient` wraps the deployed contract (one method per
function, reverts surface as :class:`~ailedger.errors.RevertError` with the
contract's reason). :class:`RegistryCache` keeps every device's key and status
in a SQLite file, applying the registry's events from the last block it saw,
so an ingester checks devices without a chain call per reading and picks up
where it stopped after a restart. The same code follows the embedded chain and
any JSON-RPC chain (it only uses ``Chain.get_logs``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from enum import IntEnum
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ailedger import contracts
from ailedger.contracts.typed_data import device_registry_domain
from ailedger.core.chain import AddressBook, Chain, Contract, Receipt, ensure_deployed
from ailedger.core.identity import Domain
from ailedger.core.storage.sqlite import SqliteFile
from ailedger.errors import InvalidInputError, NotFoundError, RevertError

__all__ = [
    "DeviceInfo",
    "DeviceRegistryClient",
    "DeviceStatus",
    "RegistryCache",
    "device_at",
    "device_kind",
    "ensure_device_registry",
]

CONTRACT_NAME = "DeviceRegistry"


class DeviceStatus(IntEnum):
    """A device's status as the contract stores it (0 = never registered)."""

    UNKNOWN = 0
    ACTIVE = 1
    SUSPENDED = 2
    REVOKED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class DeviceInfo:
    """One device's registry entry."""

    device: str
    key: str
    owner: str
    kind: str
    firmware_hash: bytes
    status: DeviceStatus


def device_kind(kind: str) -> bytes:
    """``kind`` as the contract's ``bytes32`` (UTF-8, zero-padded); at most 32 bytes."""
    raw = kind.encode()
    if not raw or len(raw) > 32:
        raise InvalidInputError(f"kind: expected 1 to 32 bytes, got {len(raw)}", field="kind")
    return raw.ljust(32, b"\0")


def _kind_text(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode(errors="replace")


class DeviceRegistryClient:
    """Typed calls on a deployed DeviceRegistry."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    @property
    def address(self) -> str:
        return self.contract.address

    @property
    def domain(self) -> Domain:
        """The EIP-712 domain devices sign readings and actions under."""
        return device_registry_domain(self.contract.chain.chain_id, self.contract.address)

    def register(
        self, sender: LocalAccount, device: str, owner: str, kind: str, firmware_hash: bytes
    ) -> Receipt:
        return self.contract.register(
            device, owner, device_kind(kind), firmware_hash, sender=sender
        )

    def rotate_key(self, sender: LocalAccount, device: str, new_key: str) -> Receipt:
        return self.contract.rotate_key(device, new_key, sender=sender)

    def suspend(self, sender: LocalAccount, device: str) -> Receipt:
        return self.contract.suspend(device, sender=sender)

    def resume(self, sender: LocalAccount, device: str) -> Receipt:
        return self.contract.resume(device, sender=sender)

    def revoke(self, sender: LocalAccount, device: str) -> Receipt:
        return self.contract.revoke(device, sender=sender)

    def grant_operator(self, sender: LocalAccount, operator: str) -> Receipt:
        return self.contract.grant_operator(operator, sender=sender)

    def get(self, device: str) -> DeviceInfo:
        """The entry of ``device``; :class:`NotFoundError` when it was never registered."""
        try:
            key, owner, kind, firmware, status, _ = self.contract.get_device(device)
        except RevertError as error:
            raise NotFoundError(f"device {device} is not registered", field="device") from error
        return DeviceInfo(device, key, owner, _kind_text(kind), firmware, DeviceStatus(status))


def ensure_device_registry(
    chain: Chain, book: AddressBook, operator: LocalAccount
) -> DeviceRegistryClient:
    """Deploy the DeviceRegistry (or reuse the one in the address book) and wrap it."""
    artifact = contracts.load(CONTRACT_NAME)
    contract, _ = ensure_deployed(
        chain,
        book,
        CONTRACT_NAME,
        artifact.abi,
        artifact.bytecode,
        artifact.source_hash,
        (),
        operator,
    )
    return DeviceRegistryClient(contract)


class RegistryCache:
    """Devices' keys and status, following the registry's events; persisted in ``path``.

    :meth:`sync` applies every event after the last block it saw, in chain
    order, in one SQLite transaction with the new block number, so a crash
    mid-sync replays from the same block. Reads (:meth:`get`) come from memory.
    """

    def __init__(self, registry: DeviceRegistryClient, path: Path | str) -> None:
        self.registry = registry
        file = SqliteFile(path, "device registry cache", "delete it: it is rebuilt from the chain")
        self._db = file.connect(synchronous="NORMAL", busy_timeout=10.0)
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS devices (
                device TEXT PRIMARY KEY, key TEXT NOT NULL, owner TEXT NOT NULL,
                kind TEXT NOT NULL, firmware_hash BLOB NOT NULL, status INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            """
        )
        self._lock = threading.Lock()
        registry_row = self._db.execute("SELECT value FROM meta WHERE name='registry'").fetchone()
        if registry_row and registry_row[0] != registry.address:
            raise InvalidInputError(
                f"registry cache {path} follows the registry at {registry_row[0]}, "
                f"not {registry.address}",
                field="registry",
            )
        self._devices = {
            row[0]: _row_info(row) for row in self._db.execute("SELECT * FROM devices")
        }

    @property
    def last_block(self) -> int:
        """The last block whose events are applied (-1 before the first sync)."""
        row = self._db.execute("SELECT value FROM meta WHERE name='last_block'").fetchone()
        return int(row[0]) if row else -1

    def get(self, device: str) -> DeviceInfo | None:
        """The cached entry of ``device``, or None when no event named it."""
        return self._devices.get(device)

    def devices(self) -> list[DeviceInfo]:
        """Every device the registry's events named, in registration order."""
        return list(self._devices.values())

    def sync(self) -> int:
        """Apply the events since the last seen block; return how many were applied."""
        with self._lock:
            start = self.last_block + 1
            head = self.registry.contract.chain.block_number()
            if head < start:
                return 0
            logs = self.registry.contract.chain.get_logs(
                address=self.registry.address, from_block=start, to_block=head
            )
            events = self.registry.contract.decode_logs(logs)
            changed: dict[str, DeviceInfo] = {}
            for event in events:
                device = event.args.get("device", "")
                info = _apply(
                    changed.get(device) or self._devices.get(device), event.name, event.args
                )
                if info is not None:
                    changed[info.device] = info
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO devices VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (i.device, i.key, i.owner, i.kind, i.firmware_hash, int(i.status))
                        for i in changed.values()
                    ],
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [("last_block", str(head)), ("registry", self.registry.address)],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._devices.update(changed)
            return len(events)

    def close(self) -> None:
        self._db.close()


def device_at(chain: Chain, registry: str, device: str, block: int) -> DeviceInfo | None:
    """``device``'s entry as the registry's events up to ``block`` (inclusive) left it;
    None if it was not registered by then.

    The contract's views know only the current key and status; a proof about a
    past message needs the ones in force when it was anchored, hence the replay.
    """
    contract = Contract(chain, registry, contracts.load(CONTRACT_NAME).abi)
    logs = chain.get_logs(address=registry, from_block=0, to_block=block)
    info: DeviceInfo | None = None
    for event in contract.decode_logs(logs):
        if event.args.get("device") == device:
            info = _apply(info, event.name, event.args) or info
    return info


def _row_info(row: tuple) -> DeviceInfo:
    device, key, owner, kind, firmware, status = row
    return DeviceInfo(device, key, owner, kind, bytes(firmware), DeviceStatus(status))


def _apply(current: DeviceInfo | None, name: str, args: dict) -> DeviceInfo | None:
    """``current`` after event ``name``; None for events that change no device."""
    if name == "DeviceRegistered":
        return DeviceInfo(
            args["device"],
            args["device"],
            args["owner"],
            _kind_text(args["kind"]),
            args["firmware_hash"],
            DeviceStatus.ACTIVE,
        )
    if current is None:
        return None
    if name == "KeyRotated":
        return replace(current, key=args["new_key"])
    if name == "FirmwareUpdated":
        return replace(current, firmware_hash=args["firmware_hash"])
    status = {
        "DeviceSuspended": DeviceStatus.SUSPENDED,
        "DeviceResumed": DeviceStatus.ACTIVE,
        "DeviceRevoked": DeviceStatus.REVOKED,
    }.get(name)
    return None if status is None else replace(current, status=status)
