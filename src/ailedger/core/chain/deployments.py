"""The address book of deployed contracts, per chain id, in ``settings.deployments_file``.

Format (JSON)::

    {"31337": {"ALTToken": {"address": "0x…", "source_hash": "…", "block": 3}}}

:func:`ensure_deployed` reuses an entry while the code is still at the address
and the source hash matches, so running the demo twice deploys once. The file is
rewritten atomically (temporary file + ``os.replace``): a crash leaves the old
book or the new one, never half of either.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from ailedger.core.chain.base import Chain
from ailedger.core.chain.contract import ABIEntry, Contract, deploy
from ailedger.core.chain.validation import to_checksum
from ailedger.errors import IntegrityError, InvalidInputError


@dataclass(frozen=True)
class Deployment:
    """Where one named contract lives on one chain."""

    address: str
    source_hash: str
    block: int


class AddressBook:
    """Named contract deployments per chain id, backed by one JSON file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def _load(self) -> dict[str, dict[str, dict[str, Any]]]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise IntegrityError(
                f"deployments file {self.path} is not valid JSON ({exc}); fix or remove it",
                field="deployments_file",
            ) from exc
        if not isinstance(data, dict):
            raise IntegrityError(
                f"deployments file {self.path}: expected a JSON object, got {type(data).__name__}",
                field="deployments_file",
            )
        return data

    def get(self, chain_id: int, name: str) -> Deployment | None:
        """The recorded deployment of ``name`` on ``chain_id``, if any."""
        entry = self._load().get(str(chain_id), {}).get(name)
        if entry is None:
            return None
        try:
            return Deployment(
                address=to_checksum(entry["address"]),
                source_hash=str(entry["source_hash"]),
                block=int(entry["block"]),
            )
        except (KeyError, TypeError, ValueError, InvalidInputError) as exc:
            raise IntegrityError(
                f"deployments file {self.path}: entry {name!r} for chain {chain_id} "
                f"is malformed ({exc})",
                field="deployments_file",
            ) from exc

    def all(self, chain_id: int) -> dict[str, Deployment]:
        """Every recorded deployment on ``chain_id``, by name."""
        names = self._load().get(str(chain_id), {})
        return {name: d for name in sorted(names) if (d := self.get(chain_id, name)) is not None}

    def record(self, chain_id: int, name: str, deployment: Deployment) -> None:
        """Add or replace ``name`` on ``chain_id`` and rewrite the file atomically."""
        data = self._load()
        data.setdefault(str(chain_id), {})[name] = asdict(deployment)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def ensure_deployed(
    chain: Chain,
    book: AddressBook,
    name: str,
    abi: Sequence[ABIEntry],
    bytecode: bytes | str,
    source_hash: str,
    ctor_args: Sequence[Any],
    sender: LocalAccount,
) -> tuple[Contract, bool]:
    """Return ``(contract, reused)``: the recorded deployment if still valid, else a new one.

    An entry is reused only while code exists at its address on this chain and its
    source hash equals ``source_hash``; otherwise the contract is deployed with
    ``ctor_args`` and the book updated.
    """
    if not name:
        raise InvalidInputError("name: expected a non-empty contract name", field="name")
    existing = book.get(chain.chain_id, name)
    if (
        existing is not None
        and existing.source_hash == source_hash
        and chain.code(existing.address) != b""
    ):
        return Contract(chain, existing.address, abi), True
    contract = deploy(chain, abi, bytecode, *ctor_args, sender=sender)
    block = contract.deploy_receipt.block_number if contract.deploy_receipt else 0
    book.record(
        chain.chain_id,
        name,
        Deployment(address=contract.address, source_hash=source_hash, block=block),
    )
    return contract, False
