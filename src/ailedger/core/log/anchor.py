"""Anchoring signed tree heads in the ``AnchorRegistry`` contract, one transaction per head.

The registry accepts a head only with the log signer's EIP-712 signature for the current
key epoch, only with a larger tree size than the last one and a consistency proof from it,
and keeps every head, so a verifier reads the
anchored history from the chain alone (:meth:`Anchorer.chain_heads`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ailedger.core.log.heads import Anchor, SignedTreeHead, TreeHead, registry_domain
from ailedger.errors import InvalidInputError, NotFoundError, RevertError

if TYPE_CHECKING:
    from ailedger.core.chain import Contract

_ZERO_ADDRESS = "0x" + "00" * 20
_ANCHORED_TOPIC = keccak(text="Anchored(bytes32,uint256,uint256,bytes32,uint64)")
_LOG_REGISTERED_TOPIC = keccak(text="LogRegistered(bytes32,address,address,bytes32)")
_SIGNER_CHANGED_TOPIC = keccak(text="SignerChanged(bytes32,address,address)")


@dataclass(frozen=True)
class ChainHead:
    """A head as the registry stores it: position ``index`` in the log's anchored history."""

    index: int
    tree_size: int
    root_hash: bytes
    timestamp: int
    block_number: int


def log_name(name: str | bytes) -> bytes:
    """A log name as the registry's ``bytes32`` (UTF-8, zero-padded on the right)."""
    raw = name.encode() if isinstance(name, str) else name
    if not isinstance(raw, bytes) or not 0 < len(raw) <= 32:
        raise InvalidInputError(f"log name: expected 1 to 32 bytes, got {name!r}", field="name")
    return raw.ljust(32, b"\x00")


class Anchorer:
    """Signs one log's tree heads and anchors them in an ``AnchorRegistry``.

    ``signer`` holds the log key (needed to sign); ``sender`` pays for anchor
    transactions (defaults to the signer). Without either it can still read heads.
    """

    def __init__(
        self,
        registry: Contract,
        log_id: bytes,
        *,
        signer: LocalAccount | None = None,
        sender: LocalAccount | None = None,
    ) -> None:
        if not isinstance(log_id, bytes) or len(log_id) != 32:
            raise InvalidInputError(f"log_id: expected 32 bytes, got {log_id!r}", field="log_id")
        self.registry = registry
        self.chain = registry.chain
        self.log_id = log_id
        self.signer = signer
        self.sender = sender or signer
        self.domain = registry_domain(self.chain.chain_id, registry.address)

    @classmethod
    def register(
        cls,
        registry: Contract,
        name: str | bytes,
        *,
        admin: LocalAccount,
        signer: LocalAccount,
        sender: LocalAccount | None = None,
    ) -> Anchorer:
        """The anchorer of ``admin``'s log ``name``, registering it first if it is new.

        Raises :class:`InvalidInputError` when the log exists with another signer.
        """
        name32 = log_name(name)
        log_id = registry.compute_log_id(admin.address, name32)
        if registry.log_admin(log_id) == _ZERO_ADDRESS:
            registry.register_log(name32, signer.address, sender=admin)
        registered = registry.log_signer(log_id)
        if registered != signer.address:
            raise InvalidInputError(
                f"signer: log 0x{log_id.hex()} is signed by {registered}, got {signer.address}",
                field="signer",
            )
        return cls(registry, log_id, signer=signer, sender=sender or admin)

    def sign(self, head: TreeHead) -> SignedTreeHead:
        """Sign ``head`` with the log key under the registry's EIP-712 domain, for the
        registry's current key epoch (whatever epoch ``head`` carried)."""
        if self.signer is None:
            raise InvalidInputError("signer: this anchorer has no log key", field="signer")
        head = replace(head, key_epoch=self.key_epoch())
        return head.sign(self.signer, self.domain)

    def key_epoch(self) -> int:
        """The registry's signer rotation count for this log (heads are signed for it)."""
        return self.registry.key_epoch(self.log_id)

    def anchored_size(self) -> int:
        """The tree size of the latest head anchored for this log (0 if none)."""
        count = self.registry.head_count(self.log_id)
        return self.registry.head_at(self.log_id, count - 1)[1] if count else 0

    def anchor(self, signed: SignedTreeHead, consistency_proof: Sequence[bytes] = ()) -> Anchor:
        """Anchor ``signed`` with one ``AnchorRegistry.anchor`` transaction.

        ``consistency_proof`` is RFC 9162 ``PROOF(anchored_size(), D[tree_size])``; the
        registry verifies it (the first head of a log takes none).
        """
        if self.sender is None:
            raise InvalidInputError(
                "sender: this anchorer has no account to pay gas", field="sender"
            )
        h = signed.head
        receipt = self.registry.anchor(
            h.log_id,
            h.tree_size,
            h.root_hash,
            h.timestamp,
            signed.signature,
            list(consistency_proof),
            sender=self.sender,
        )
        events = self.registry.decode_logs(receipt, "Anchored")
        if not events:
            raise RevertError("anchor: the transaction emitted no Anchored event")
        return self._anchor_of(
            events[0].args["index"], h.tree_size, receipt.tx_hash, receipt.block_number
        )

    def find_anchor(self, head: TreeHead) -> Anchor | None:
        """The anchor of ``head`` if it is already on chain (e.g. sent just before a crash)."""
        logs = self.chain.get_logs(
            address=self.registry.address, topics=[_ANCHORED_TOPIC, self.log_id]
        )
        for event in self.registry.decode_logs(logs, "Anchored"):
            args = event.args
            if args["tree_size"] == head.tree_size and args["root_hash"] == head.root_hash:
                return self._anchor_of(
                    args["index"], head.tree_size, event.log.tx_hash, event.log.block_number
                )
        return None

    def chain_heads(self) -> list[ChainHead]:
        """Every head anchored for this log, oldest first, read from the registry."""
        count = self.registry.head_count(self.log_id)
        return [ChainHead(*self.registry.head_at(self.log_id, i)) for i in range(count)]

    def log_signer(self) -> str:
        """The address the registry accepts head signatures from."""
        return self.registry.log_signer(self.log_id)

    def signer_at(self, block_number: int) -> str:
        """The log's signer as of the end of block ``block_number``, from the registry's events.

        A head anchored in that block was accepted with this signer's signature; a later
        key rotation (``set_signer``) leaves such heads valid, so verifiers check a head
        against this rather than the current :meth:`log_signer`. Raises
        :class:`NotFoundError` when the log was not registered by then.
        """
        return self.key_at(block_number)[0]

    def key_at(self, block_number: int) -> tuple[str, int]:
        """``(signer, key epoch)`` in force at the end of block ``block_number``."""
        changes = self.signer_changes(block_number)
        if not changes:
            raise NotFoundError(
                f"log 0x{self.log_id.hex()} is not registered in the registry at "
                f"{self.registry.address} as of block {block_number}",
                field="log_id",
            )
        # A rotation in the anchoring block itself counts as before the anchor; the
        # registry checked the signature then anyway. Epoch n is the n-th rotation.
        return changes[-1][2], len(changes) - 1

    def signer_changes(self, to_block: int | None = None) -> list[tuple[int, int, str]]:
        """``(block, log index, new signer)`` of the registration and every rotation up to
        ``to_block`` (default: all), in chain order: entry ``n`` starts key epoch ``n``."""
        if to_block is not None and (
            isinstance(to_block, bool) or not isinstance(to_block, int) or to_block < 0
        ):
            raise InvalidInputError(
                f"block_number: expected a non-negative integer, got {to_block!r}",
                field="block_number",
            )
        changes = []
        for topic, event, field in (
            (_LOG_REGISTERED_TOPIC, "LogRegistered", "signer"),
            (_SIGNER_CHANGED_TOPIC, "SignerChanged", "new_signer"),
        ):
            logs = self.chain.get_logs(
                address=self.registry.address, topics=[topic, self.log_id], to_block=to_block
            )
            changes += [
                (e.log.block_number, e.log.log_index, e.args[field])
                for e in self.registry.decode_logs(logs, event)
            ]
        return sorted(changes)

    def _anchor_of(self, index: int, tree_size: int, tx_hash: bytes, block: int) -> Anchor:
        return Anchor(tree_size, self.chain.chain_id, self.registry.address, index, tx_hash, block)
