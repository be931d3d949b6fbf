"""Signed tree heads: a log's commitment to its first ``tree_size`` records.

A :class:`TreeHead` is signed with EIP-712 in exactly the form ``AnchorRegistry``
checks on chain, under the domain ("AILedger AnchorRegistry", "1", chainId,
registry address) with the type
``TreeHead(bytes32 logId,uint256 treeSize,bytes32 rootHash,uint64 timestamp,uint64 keyEpoch)``,
so one signature serves the operator's store, the chain and a stranger's check. The key
epoch is the registry's count of signer rotations when the head was signed: a head signed
before a rotation never becomes valid again, even if its signer returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from ailedger.contracts.typed_data import TREE_HEAD_TYPES, anchor_registry_domain
from ailedger.core.identity.eip712 import Domain, recover_typed, sign_typed, verify_typed
from ailedger.core.log.merkle import HASH_SIZE
from ailedger.errors import InvalidInputError

_UINT64_MAX = 2**64 - 1
MAX_TREE_SIZE = _UINT64_MAX  # AnchorRegistry.MAX_TREE_SIZE

# The domain and type live with the contracts (one definition for every signer).
registry_domain = anchor_registry_domain


@dataclass(frozen=True)
class TreeHead:
    """The root hash of a log's first ``tree_size`` records at ``timestamp`` (ms since epoch),
    signed for the registry's signer ``key_epoch``."""

    log_id: bytes
    tree_size: int
    root_hash: bytes
    timestamp: int
    key_epoch: int = 0

    def __post_init__(self) -> None:
        _check_bytes32("log_id", self.log_id)
        _check_bytes32("root_hash", self.root_hash)
        _check_int("tree_size", self.tree_size, MAX_TREE_SIZE)
        _check_int("timestamp", self.timestamp, _UINT64_MAX)
        _check_int("key_epoch", self.key_epoch, _UINT64_MAX)

    def message(self) -> dict[str, Any]:
        """The EIP-712 ``TreeHead`` message."""
        return {
            "logId": self.log_id,
            "treeSize": self.tree_size,
            "rootHash": self.root_hash,
            "timestamp": self.timestamp,
            "keyEpoch": self.key_epoch,
        }

    def sign(self, account: LocalAccount, domain: Domain) -> SignedTreeHead:
        """Sign this head with the log's key."""
        signature = sign_typed(account, domain, "TreeHead", TREE_HEAD_TYPES, self.message())
        return SignedTreeHead(self, signature)

    def to_dict(self) -> dict[str, Any]:
        return {
            "log_id": "0x" + self.log_id.hex(),
            "tree_size": self.tree_size,
            "root_hash": "0x" + self.root_hash.hex(),
            "timestamp": self.timestamp,
            "key_epoch": self.key_epoch,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TreeHead:
        return cls(
            log_id=_hex_field(data, "log_id"),
            tree_size=_field(data, "tree_size"),
            root_hash=_hex_field(data, "root_hash"),
            timestamp=_field(data, "timestamp"),
            # Heads stored before key epochs existed were signed for epoch 0.
            key_epoch=data.get("key_epoch", 0) if isinstance(data, dict) else 0,
        )


@dataclass(frozen=True)
class SignedTreeHead:
    """A tree head with the log signer's 65-byte EIP-712 signature."""

    head: TreeHead
    signature: bytes

    def signer(self, domain: Domain) -> str:
        """The checksum address that signed this head under ``domain``."""
        return recover_typed(
            domain, "TreeHead", TREE_HEAD_TYPES, self.head.message(), self.signature
        )

    def verify(self, domain: Domain, signer: str) -> None:
        """Raise ``UnauthorizedError`` unless ``signer`` signed this head under ``domain``."""
        verify_typed(
            domain, "TreeHead", TREE_HEAD_TYPES, self.head.message(), self.signature, signer
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.head.to_dict(), "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignedTreeHead:
        return cls(TreeHead.from_dict(data), _hex_field(data, "signature"))


@dataclass(frozen=True)
class Anchor:
    """Where a signed head was anchored: ``AnchorRegistry`` head ``index``, in a transaction."""

    tree_size: int
    chain_id: int
    registry: str
    index: int
    tx_hash: bytes
    block_number: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "chain_id": self.chain_id,
            "registry": self.registry,
            "index": self.index,
            "tx_hash": "0x" + self.tx_hash.hex(),
            "block_number": self.block_number,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Anchor:
        return cls(
            tree_size=_field(data, "tree_size"),
            chain_id=_field(data, "chain_id"),
            registry=_field(data, "registry"),
            index=_field(data, "index"),
            tx_hash=_hex_field(data, "tx_hash"),
            block_number=_field(data, "block_number"),
        )


def _check_bytes32(name: str, value: object) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise InvalidInputError(f"{name}: expected 32 bytes, got {got}", field=name)


def _check_int(name: str, value: object, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidInputError(
            f"{name}: expected an integer in [0, {maximum}], got {value!r}", field=name
        )


def _field(data: dict[str, Any], name: str) -> Any:
    if not isinstance(data, dict) or name not in data:
        raise InvalidInputError(f"{name}: missing", field=name)
    return data[name]


def _hex_field(data: dict[str, Any], name: str) -> bytes:
    value = _field(data, name)
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except (AttributeError, ValueError):
        raise InvalidInputError(
            f"{name}: expected 0x-prefixed hex, got {value!r}", field=name
        ) from None
