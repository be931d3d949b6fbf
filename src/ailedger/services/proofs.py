"""Proving a paid call to a stranger: the receipt, its log record, and the anchored head.

:func:`verify_call_proof` needs only the proof (what a host's ``/proofs/<index>``
returns) and read access to the chain. It checks that:

1. the record is a call record whose receipt the model's registered owner signed,
   for the model hash the registry lists; for a call of a batch, that the item's
   hashes are in the batch receipt's Merkle root at the item's position;
   the receipt and the tree head name the log the registry binds the model to;
2. the record is in the log: its RFC 9162 inclusion proof leads to the root of
   the signed tree head;
3. the head is signed by the key that was the log's signer when it was anchored
   (heads survive key rotation) and is anchored, at the position the proof names
   with the same size, root and time, in the ``AnchorRegistry`` the ModelRegistry
   names (not just any instance of it).

Both contracts are asked only after their code is checked, byte for byte, to be
ours compiled from this package's sources (:func:`ailedger.contracts.check_deployed_code`):
a contract that only looks like a registry could answer anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ailedger import contracts
from ailedger.core.chain import Chain, Contract, to_checksum
from ailedger.core.log import (
    Anchor,
    Anchorer,
    InclusionProof,
    SignedTreeHead,
    hash_leaf,
    registry_domain,
)
from ailedger.core.trust import LogIdentity, Pins, log_identity
from ailedger.errors import AILedgerError, IntegrityError, InvalidInputError
from ailedger.http import json_depth
from ailedger.services.batches import BATCH_RECORD_KIND, BatchItem, verify_item
from ailedger.services.receipts import RECORD_KIND, BatchReceipt, CallReceipt, ReceiptSigner
from ailedger.services.registry import ModelRegistryClient

__all__ = ["CallProofReport", "verify_call_proof"]

# A call record nests a few levels (receipt, voucher, batch item); a proof's record comes
# from whoever hands the proof over, so its depth is checked before parsing.
MAX_RECORD_DEPTH = 32


@dataclass(frozen=True)
class CallProofReport:
    """A verified call: which model, what was paid, where it is anchored.

    For a call of a batch, ``receipt`` is the batch's and ``item`` the call's place in it.
    """

    receipt: CallReceipt | BatchReceipt
    model_name: str
    log_index: int
    tree_size: int
    anchor_block: int
    anchor_tx: str
    item: BatchItem | None = None
    identity: LogIdentity | None = None  # the log, registry, operator and signer checked


def verify_call_proof(
    proof: dict[str, Any],
    chain: Chain,
    registry: ModelRegistryClient,
    *,
    expected_receipt: CallReceipt | BatchReceipt | None = None,
    pins: Pins | None = None,
) -> CallProofReport:
    """Check ``proof`` against the chain; raise :class:`IntegrityError` naming the failed step.

    With ``expected_receipt`` (the one the caller got with the response) the logged
    receipt must also be exactly that one. With ``pins`` the log's identity (chain,
    registry, log id, operator, signer at the anchor block) must be the pinned one
    (:class:`~ailedger.core.trust.IdentityMismatchError` otherwise).
    """
    if not isinstance(proof, dict):
        raise InvalidInputError("proof: expected an object", field="proof")
    try:
        record_text = proof["record"]
        if not isinstance(record_text, str):
            raise TypeError(f"record: expected a string, got {type(record_text).__name__}")
        if json_depth(record_text.encode()) > MAX_RECORD_DEPTH:
            raise ValueError(f"record nested deeper than {MAX_RECORD_DEPTH} levels")
        record = json.loads(record_text)
        log_index = proof["log_index"]
        inclusion = InclusionProof.from_dict(proof["inclusion_proof"])
        signed = SignedTreeHead.from_dict(proof["tree_head"])
        anchor = Anchor.from_dict(proof["anchor"])
    except (KeyError, TypeError, ValueError, RecursionError) as error:
        # RecursionError: a record string nested thousands deep (json.loads recurses).
        raise InvalidInputError(f"proof: malformed ({error})", field="proof") from None
    kind = record.get("kind") if isinstance(record, dict) else None
    item = None
    if kind == RECORD_KIND:
        receipt: CallReceipt | BatchReceipt = CallReceipt.from_dict(record.get("receipt"))
    elif kind == BATCH_RECORD_KIND:
        receipt = BatchReceipt.from_dict(record.get("receipt"))
        item = BatchItem.from_dict(record.get("item"))
        verify_item(receipt, item)
    else:
        raise IntegrityError(
            f"proof: the record is not a {RECORD_KIND} or {BATCH_RECORD_KIND} record",
            field="record",
        )
    if expected_receipt is not None and receipt != expected_receipt:
        raise IntegrityError(
            "proof: the logged receipt differs from the receipt of the call", field="receipt"
        )

    # The listing (owner, model hash, log) is trusted only from our ModelRegistry's code,
    # and it names the one AnchorRegistry its log ids live in.
    anchor_registry = _model_registry_anchors(registry)
    listing = registry.get(receipt.model_id)
    if receipt.model_hash != listing.model_hash:
        raise IntegrityError(
            f"receipt: model hash 0x{receipt.model_hash.hex()} is not the registered "
            f"0x{listing.model_hash.hex()}",
            field="receipt.model_hash",
        )
    ReceiptSigner(chain.chain_id, registry.address).verify(receipt, listing.owner)
    # Only the log the registry binds the model to counts: a service must not keep some
    # calls in a private log and still prove them.
    if receipt.log_id != listing.log_id or signed.head.log_id != listing.log_id:
        raise IntegrityError(
            f"proof: the call is recorded in log 0x{signed.head.log_id.hex()} (receipt: "
            f"0x{receipt.log_id.hex()}), but the registry binds {listing.name} to log "
            f"0x{listing.log_id.hex()}",
            field="log_id",
        )

    if inclusion.leaf_index != log_index or inclusion.tree_size != signed.head.tree_size:
        raise IntegrityError(
            f"proof: inclusion proof is for leaf {inclusion.leaf_index} of "
            f"{inclusion.tree_size}, expected leaf {log_index} of {signed.head.tree_size}",
            field="inclusion_proof",
        )
    inclusion.verify(hash_leaf(record_text.encode()), signed.head.root_hash)

    if anchor.chain_id != chain.chain_id or anchor.tree_size != signed.head.tree_size:
        raise IntegrityError(
            f"proof: anchor is for size {anchor.tree_size} on chain {anchor.chain_id}, expected "
            f"size {signed.head.tree_size} on chain {chain.chain_id}",
            field="anchor",
        )
    if anchor.registry != anchor_registry:
        raise IntegrityError(
            f"proof: anchored in the AnchorRegistry at {anchor.registry}, but the model "
            f"registry binds {listing.name} to a log of the one at {anchor_registry}",
            field="anchor.registry",
        )
    _check_code(chain, "AnchorRegistry", anchor.registry, "anchor.registry")
    anchors = Contract(chain, anchor.registry, contracts.load("AnchorRegistry").abi)
    try:
        _, size, root, timestamp, block = anchors.head_at(signed.head.log_id, anchor.index)
        # The signer in force in the block that anchored the head, not today's: a key
        # rotation after the anchor leaves the head valid.
        signer = Anchorer(anchors, signed.head.log_id).signer_at(block)
    except AILedgerError as error:
        raise IntegrityError(
            f"proof: anchor {anchor.index} is not on chain ({error.message})", field="anchor"
        ) from None
    if (size, root, timestamp) != (
        signed.head.tree_size,
        signed.head.root_hash,
        signed.head.timestamp,
    ):
        raise IntegrityError(
            f"proof: the head anchored at index {anchor.index} differs from the proof's head",
            field="tree_head",
        )
    try:
        signed.verify(registry_domain(chain.chain_id, anchor.registry), signer)
    except AILedgerError as error:
        raise IntegrityError(
            f"proof: tree head signature: {error.message}", field="tree_head"
        ) from None
    identity = log_identity(Anchorer(anchors, signed.head.log_id), [block])
    if pins is not None:
        pins.check(identity)
    return CallProofReport(
        identity=identity,
        receipt=receipt,
        model_name=listing.name,
        log_index=log_index,
        tree_size=signed.head.tree_size,
        anchor_block=block,
        anchor_tx="0x" + anchor.tx_hash.hex(),
        item=item,
    )


def _model_registry_anchors(registry: ModelRegistryClient) -> str:
    """The AnchorRegistry ``registry`` names, once its code is checked to be our
    ModelRegistry deployed with exactly that address (its one immutable)."""
    try:
        anchors = to_checksum(registry.contract.anchor_registry(), "anchor_registry")
    except AILedgerError:
        # No such getter, so not our code; any non-zero argument lets the check say
        # what is there instead.
        anchors = registry.address
    _check_code(registry.chain, "ModelRegistry", registry.address, "registry", anchors)
    return anchors


def _check_code(chain: Chain, name: str, address: str, field: str, *ctor_args: Any) -> None:
    """Raise :class:`IntegrityError` unless the code at ``address`` is our ``name``."""
    try:
        # The EIP-712 domain the AnchorRegistry's constructor builds from the chain id
        # and address, and the ModelRegistry's AnchorRegistry address, are checked too.
        contracts.check_deployed_code(chain, name, address, *ctor_args)
    except IntegrityError as error:
        raise IntegrityError(f"proof: {field}: {error.message}", field=field) from None
