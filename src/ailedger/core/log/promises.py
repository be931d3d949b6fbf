"""Signed inclusion promises, like Certificate Transparency's SCTs (RFC 6962 3.2).

Between an append and the next anchored head a record is committed to by nothing. So
the caller gets an :class:`InclusionPromise` signed with the log key: this leaf hash is
at this index, appended at this time, and a head covering it will be anchored within
``max_delay_ms``. :func:`check_promise` reads the registry: a promise past its deadline
with no head covering it anchored in time is evidence of misbehaviour, signed by the log
key itself; :func:`evidence` wraps it with what the chain showed, signed by the checker.
A covering head is on time when its signed timestamp is within the deadline (as CT
compares STH and SCT timestamps); "now", for a promise no head covers, is the time of the
chain's latest block, so the evidence names facts anyone can re-read.

Signed with EIP-712 under the log's registry domain with the type
``InclusionPromise(bytes32 logId,uint256 leafIndex,bytes32 leafHash,uint64 timestamp,
uint64 maxDelayMs)``; the registry never sees it, the domain binds it to the log's chain
and registry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from ailedger.core.identity import Domain, recover_typed, sign_document, sign_typed
from ailedger.core.log.anchor import Anchorer, ChainHead
from ailedger.core.log.heads import registry_domain
from ailedger.core.log.log import TransparencyLog
from ailedger.core.log.proofs import InclusionProof, LeafRef
from ailedger.errors import IntegrityError, InvalidInputError

PROMISE_TYPE = "ailedger.inclusion-promise/v1"
EVIDENCE_TYPE = "ailedger.broken-promise-evidence/v1"
# On top of the batch age limit: time for the anchor transaction to be mined.
ANCHOR_GRACE_MS = 60_000
INCLUSION_PROMISE_TYPES = {
    "InclusionPromise": [
        {"name": "logId", "type": "bytes32"},
        {"name": "leafIndex", "type": "uint256"},
        {"name": "leafHash", "type": "bytes32"},
        {"name": "timestamp", "type": "uint64"},
        {"name": "maxDelayMs", "type": "uint64"},
    ]
}


@dataclass(frozen=True)
class InclusionPromise:
    """Leaf ``leaf_index`` (hash ``leaf_hash``) of log ``log_id``, appended at ``timestamp``
    (ms), will be covered by an anchored head by ``timestamp + max_delay_ms``."""

    chain_id: int
    registry: str
    log_id: bytes
    leaf_index: int
    leaf_hash: bytes
    timestamp: int
    max_delay_ms: int

    @property
    def deadline_ms(self) -> int:
        return self.timestamp + self.max_delay_ms

    def domain(self) -> Domain:
        return registry_domain(self.chain_id, self.registry)

    def message(self) -> dict[str, Any]:
        return {
            "logId": self.log_id,
            "leafIndex": self.leaf_index,
            "leafHash": self.leaf_hash,
            "timestamp": self.timestamp,
            "maxDelayMs": self.max_delay_ms,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": PROMISE_TYPE,
            "chain_id": self.chain_id,
            "registry": self.registry,
            "log_id": "0x" + self.log_id.hex(),
            "leaf_index": self.leaf_index,
            "leaf_hash": "0x" + self.leaf_hash.hex(),
            "timestamp": self.timestamp,
            "max_delay_ms": self.max_delay_ms,
        }


@dataclass(frozen=True)
class SignedPromise:
    """A promise with the log key's 65-byte EIP-712 signature."""

    promise: InclusionPromise
    signature: bytes

    def signer(self) -> str:
        """The address that signed the promise (checked against the log's keys by
        :func:`check_promise`)."""
        p = self.promise
        return recover_typed(
            p.domain(), "InclusionPromise", INCLUSION_PROMISE_TYPES, p.message(), self.signature
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.promise.to_dict(), "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_dict(cls, data: object) -> SignedPromise:
        if not isinstance(data, dict) or data.get("type") != PROMISE_TYPE:
            raise InvalidInputError(
                f"promise: expected an object of type {PROMISE_TYPE!r}", field="promise"
            )
        try:
            promise = InclusionPromise(
                chain_id=_int(data["chain_id"]),
                registry=str(data["registry"]),
                log_id=_hex(data["log_id"], 32),
                leaf_index=_int(data["leaf_index"]),
                leaf_hash=_hex(data["leaf_hash"], 32),
                timestamp=_int(data["timestamp"]),
                max_delay_ms=_int(data["max_delay_ms"]),
            )
            return cls(promise, _hex(data["signature"], 65))
        except KeyError as error:
            raise InvalidInputError(f"promise: missing {error}", field="promise") from None


def promise_inclusion(
    anchorer: Anchorer, ref: LeafRef, max_delay_ms: int, *, now_ms: int | None = None
) -> SignedPromise:
    """Sign the promise that ``ref`` will be covered by an anchored head within
    ``max_delay_ms`` (the log's batch age limit plus :data:`ANCHOR_GRACE_MS`)."""
    if anchorer.signer is None:
        raise InvalidInputError("signer: this anchorer has no log key", field="signer")
    promise = InclusionPromise(
        anchorer.chain.chain_id,
        anchorer.registry.address,
        anchorer.log_id,
        ref.index,
        ref.leaf_hash,
        int(time.time() * 1000) if now_ms is None else now_ms,
        max_delay_ms,
    )
    signature = sign_typed(
        anchorer.signer,
        promise.domain(),
        "InclusionPromise",
        INCLUSION_PROMISE_TYPES,
        promise.message(),
    )
    return SignedPromise(promise, signature)


def promise_for(log: TransparencyLog, ref: LeafRef) -> SignedPromise:
    """The promise for ``ref`` of an anchored ``log``: a batch closes within the policy's
    age limit (when polled), and its anchor is mined within :data:`ANCHOR_GRACE_MS`."""
    if log.anchorer is None:
        raise InvalidInputError("log: it has no anchorer, so it promises nothing", field="log")
    max_delay_ms = int(log.policy.max_seconds * 1000) + ANCHOR_GRACE_MS
    return promise_inclusion(log.anchorer, ref, max_delay_ms)


@dataclass(frozen=True)
class PromiseCheck:
    """``status`` is ``kept`` (a head covering the leaf was anchored by the deadline),
    ``pending`` (not yet due) or ``broken`` (misbehaviour: ``reason`` says how)."""

    status: str
    reason: str
    signer: str
    head: ChainHead | None
    checked_block: int
    checked_ms: int


def check_promise(
    signed: SignedPromise,
    anchorer: Anchorer,
    *,
    inclusion_proof: InclusionProof | None = None,
) -> PromiseCheck:
    """Check ``signed`` against ``anchorer``'s registry; "now" is the chain's latest block.

    Raises :class:`IntegrityError` when the promise is not signed by a key of the log
    (then it is no evidence of anything). With ``inclusion_proof`` (from the operator) a
    covering head must also contain the promised leaf hash.
    """
    p = signed.promise
    if (p.chain_id, p.registry, p.log_id) != (
        anchorer.chain.chain_id,
        anchorer.registry.address,
        anchorer.log_id,
    ):
        raise InvalidInputError(
            "promise: it is for another chain, registry or log than the one checked",
            field="promise",
        )
    signer = signed.signer()
    keys = {change[2] for change in anchorer.signer_changes()}
    if signer not in keys:
        raise IntegrityError(
            f"promise: signed by {signer}, never a signer of log 0x{p.log_id.hex()}",
            field="signature",
        )
    latest = anchorer.chain.block_number()
    now_ms = anchorer.chain.get_block(latest).timestamp * 1000
    covering = next((h for h in anchorer.chain_heads() if h.tree_size > p.leaf_index), None)
    if covering is not None:
        # As in CT (RFC 6962 3.5), the covering head's own signed timestamp is compared with
        # the deadline: same clock as the promise's, and the registry refused it had it
        # been ahead of the chain's clock.
        anchored_ms = covering.timestamp
        if inclusion_proof is not None:
            if inclusion_proof.tree_size != covering.tree_size:
                raise InvalidInputError(
                    f"inclusion_proof: for size {inclusion_proof.tree_size}, expected the "
                    f"covering head's {covering.tree_size}",
                    field="inclusion_proof",
                )
            try:
                inclusion_proof.verify(p.leaf_hash, covering.root_hash)
            except IntegrityError as error:
                reason = f"anchored head #{covering.index} does not contain the leaf: {error}"
                return PromiseCheck("broken", reason, signer, covering, latest, now_ms)
        if anchored_ms <= p.deadline_ms:
            reason = (
                f"leaf {p.leaf_index} is covered by head #{covering.index} (size "
                f"{covering.tree_size}) anchored in block {covering.block_number}, before "
                "the deadline"
            )
            return PromiseCheck("kept", reason, signer, covering, latest, now_ms)
        reason = (
            f"leaf {p.leaf_index} was first covered by head #{covering.index}, signed at "
            f"{anchored_ms} ms, after the promised deadline {p.deadline_ms} ms"
        )
        return PromiseCheck("broken", reason, signer, covering, latest, now_ms)
    if now_ms <= p.deadline_ms:
        reason = f"no head covers leaf {p.leaf_index} yet; the deadline {p.deadline_ms} ms is ahead"
        return PromiseCheck("pending", reason, signer, None, latest, now_ms)
    reason = (
        f"no anchored head covers leaf {p.leaf_index}, promised by {p.deadline_ms} ms; the "
        f"chain is at {now_ms} ms (block {latest})"
    )
    return PromiseCheck("broken", reason, signer, None, latest, now_ms)


def evidence(signed: SignedPromise, check: PromiseCheck, checker: LocalAccount) -> dict[str, Any]:
    """The promise, what the chain showed and the verdict, signed by ``checker``.

    Anyone can re-check it: the promise carries the log key's signature and the chain
    facts are named by block.
    """
    if check.status != "broken":
        raise InvalidInputError(
            f"check: evidence is only for a broken promise, this one is {check.status}",
            field="check",
        )
    document = {
        "type": EVIDENCE_TYPE,
        "promise": signed.to_dict(),
        "promise_signer": check.signer,
        "reason": check.reason,
        "checked_at_block": check.checked_block,
        "checked_at_ms": check.checked_ms,
        "covering_head": None
        if check.head is None
        else {"index": check.head.index, "block_number": check.head.block_number},
        "checker": checker.address,
    }
    domain = registry_domain(signed.promise.chain_id, signed.promise.registry)
    return {**document, "signature": "0x" + sign_document(checker, domain, document).hex()}


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"promise: expected a non-negative integer, got {value!r}")
    return value


def _hex(value: object, length: int) -> bytes:
    try:
        raw = bytes.fromhex(str(value).removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != length:
        raise InvalidInputError(f"promise: expected {length} bytes of 0x hex, got {value!r}")
    return raw
