"""Verification of a decision's proof bundle by a stranger.

The verifier needs only the bundle (see :mod:`ailedger.audit.proofs` for its
format) and read access to the chain; it trusts nothing the operator says. It
checks, in order, stopping at the first failure:

1. ``format``: the bundle has every field, of the right type.
2. ``record``: the record is a well-formed decision record, and its outcome is
   what its own policy gives for its score.
3. ``leaf_hash``: the record's canonical bytes hash (RFC 9162 leaf hash) to the
   leaf hash the bundle claims; a changed record fails here.
4. ``inclusion``: the inclusion proof leads from that leaf, at that index, to the
   tree head's root (RFC 9162 2.1.3.2).
5. ``chain``: the connected chain is the one the bundle names, and the code at
   the registry address is the ``AnchorRegistry`` compiled from this package's
   sources, byte for byte, immutables included (what its constructor leaves at
   that address on that chain). Every later check asks this contract.
6. ``anchored_head``: the ``AnchorRegistry`` holds exactly this tree head (size,
   root, timestamp) at the bundle's head index.
7. ``signature``: the tree head's EIP-712 signature recovers to the key that
   was the log's signer when the head was anchored.
8. ``operator``: the record's operator is the log's admin in the registry. Only
   that account can have registered the log (its id hashes in the admin), so
   nobody else can log a decision in the operator's name.
9. ``anchor_tx``: the named transaction emitted that ``Anchored`` event.
10. ``identity``: with ``pins`` (the operator's published trust root, or an
    expected operator/registry/log id), the chain, registry, log, operator and
    the signer at the anchor block are the pinned ones. Without pins this check
    passes but says plainly that the identity was not pinned, and names it:
    a bundle from another operator's log verifies against that operator.

Example::

    >>> verdict = verify_bundle(json.loads(Path("proof.json").read_text()), chain)  # doctest: +SKIP
    >>> verdict.ok, verdict.reason  # doctest: +SKIP
    (True, None)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ailedger import contracts
from ailedger.audit.record import DecisionRecord
from ailedger.core.chain import Chain, Contract
from ailedger.core.log import Anchorer
from ailedger.core.log.heads import Anchor, SignedTreeHead, registry_domain
from ailedger.core.log.merkle import hash_leaf
from ailedger.core.log.proofs import InclusionProof
from ailedger.core.trust import Pins, describe_identity, log_identity
from ailedger.errors import AILedgerError, ChainError, RevertError

BUNDLE_TYPE = "ailedger.audit.proof/v1"
CHECKS = (
    "format",
    "record",
    "leaf_hash",
    "inclusion",
    "chain",
    "anchored_head",
    "signature",
    "operator",
    "anchor_tx",
    "identity",
)


class VerificationFailure(Exception):
    """One check failed; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Check:
    """The outcome of one verification step."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    """The result of verifying a bundle: ``ok`` only if every check passed."""

    ok: bool
    checks: tuple[Check, ...]
    decision_id: str | None = None
    record: DecisionRecord | None = field(default=None, repr=False)

    @property
    def reason(self) -> str | None:
        """Why verification failed (the first failed check), or ``None``."""
        for check in self.checks:
            if not check.ok:
                return f"{check.name}: {check.detail}"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "decision_id": self.decision_id,
            "reason": self.reason,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


@dataclass
class _Parsed:
    record_data: Any = None
    record: DecisionRecord | None = None
    leaf_hash: bytes = b""
    proof: InclusionProof | None = None
    head: SignedTreeHead | None = None
    anchor: Anchor | None = None
    registry: Contract | None = None
    anchor_log_index: int | None = None


def verify_bundle(bundle: Mapping[str, Any], chain: Chain, pins: Pins | None = None) -> Verdict:
    """Check a proof bundle against the chain; never trusts the operator's database.

    ``pins`` name whom the verifier trusts (see :mod:`ailedger.core.trust`).

    Returns a :class:`Verdict`; a tampered or malformed bundle gives ``ok=False``
    with the reason. Only a chain that cannot be reached raises (``ChainError``).
    """
    state = _Parsed()
    steps: list[tuple[str, Callable[[], str]]] = [
        ("format", lambda: _check_format(bundle, state)),
        ("record", lambda: _check_record(state)),
        ("leaf_hash", lambda: _check_leaf_hash(state)),
        ("inclusion", lambda: _check_inclusion(state)),
        ("chain", lambda: _check_chain(state, chain)),
        ("anchored_head", lambda: _check_anchored_head(state)),
        ("signature", lambda: _check_signature(state)),
        ("operator", lambda: _check_operator(state)),
        ("anchor_tx", lambda: _check_anchor_tx(state, chain)),
        ("identity", lambda: _check_identity(state, pins)),
    ]
    checks: list[Check] = []
    for name, step in steps:
        try:
            detail = step()
        except VerificationFailure as failure:
            checks.append(Check(name, False, str(failure)))
            break
        except RevertError as error:
            checks.append(Check(name, False, f"the registry refused: {error.reason}"))
            break
        except ChainError:
            raise
        except AILedgerError as error:
            checks.append(Check(name, False, error.message))
            break
        checks.append(Check(name, True, detail))
    ok = len(checks) == len(steps) and all(c.ok for c in checks)
    record = state.record
    return Verdict(
        ok=ok,
        checks=tuple(checks),
        decision_id=record.decision_id if record else None,
        record=record,
    )


def _check_format(bundle: Mapping[str, Any], state: _Parsed) -> str:
    if not isinstance(bundle, Mapping):
        raise VerificationFailure(f"bundle must be a JSON object, got {type(bundle).__name__}")
    if bundle.get("bundle_type") != BUNDLE_TYPE:
        raise VerificationFailure(
            f"bundle_type must be {BUNDLE_TYPE!r}, got {bundle.get('bundle_type')!r}"
        )
    for name in ("record", "leaf_hash", "inclusion_proof", "tree_head", "anchor"):
        if name not in bundle:
            raise VerificationFailure(f"missing field {name!r}")
    for name in ("inclusion_proof", "tree_head", "anchor"):
        if not isinstance(bundle[name], dict):
            raise VerificationFailure(
                f"{name} must be an object, got {type(bundle[name]).__name__}"
            )
    proof = InclusionProof.from_dict(bundle["inclusion_proof"])
    state.record_data = bundle["record"]
    state.leaf_hash = _hash32(bundle["leaf_hash"], "leaf_hash")
    state.proof = proof
    state.head = SignedTreeHead.from_dict(bundle["tree_head"])
    state.anchor = Anchor.from_dict(bundle["anchor"])
    if state.anchor.tree_size != state.head.head.tree_size:
        raise VerificationFailure(
            f"anchor is for tree size {state.anchor.tree_size}, "
            f"the tree head for {state.head.head.tree_size}"
        )
    if proof.tree_size != state.head.head.tree_size:
        raise VerificationFailure(
            f"the inclusion proof is for another tree: size {proof.tree_size}, "
            f"the tree head's is {state.head.head.tree_size}"
        )
    return "all fields present"


def _check_record(state: _Parsed) -> str:
    record = DecisionRecord.from_json_dict(state.record_data)
    expected = record.policy.outcome(record.score)
    if record.output != expected:
        raise VerificationFailure(
            f"output contradicts the record's policy: score {record.score} with threshold "
            f"{record.policy.threshold} gives {expected!r}, the record says {record.output!r}"
        )
    state.record = record
    return f"decision {record.decision_id}: {record.output} (score {record.score})"


def _check_leaf_hash(state: _Parsed) -> str:
    assert state.record is not None
    actual = hash_leaf(state.record.to_bytes())
    if actual != state.leaf_hash:
        raise VerificationFailure(
            f"the record was altered: it hashes to 0x{actual.hex()}, "
            f"the logged leaf is 0x{state.leaf_hash.hex()}"
        )
    return f"0x{actual.hex()}"


def _check_inclusion(state: _Parsed) -> str:
    assert state.head is not None and state.proof is not None
    head = state.head.head
    state.proof.verify(state.leaf_hash, head.root_hash)
    return f"leaf {state.proof.leaf_index} is in the tree of size {head.tree_size}"


def _check_chain(state: _Parsed, chain: Chain) -> str:
    assert state.anchor is not None
    if chain.chain_id != state.anchor.chain_id:
        raise VerificationFailure(
            f"the bundle is anchored on chain {state.anchor.chain_id}, "
            f"connected to chain {chain.chain_id}"
        )
    # Everything below asks the registry; a contract that only looks like it could
    # answer anything, so its code must be ours, compiled from these sources
    # (IntegrityError "the code at 0x... is not the AnchorRegistry: ..." otherwise).
    contracts.check_deployed_code(chain, "AnchorRegistry", state.anchor.registry)
    state.registry = Contract(chain, state.anchor.registry, contracts.load("AnchorRegistry").abi)
    return f"chain {chain.chain_id}, the AnchorRegistry at {state.registry.address}"


def _check_anchored_head(state: _Parsed) -> str:
    assert state.registry is not None and state.anchor is not None and state.head is not None
    head = state.head.head
    on_chain = state.registry.head_at(head.log_id, state.anchor.index)
    _, size, root, timestamp, block_number = on_chain
    if (size, root, timestamp) != (head.tree_size, head.root_hash, head.timestamp):
        raise VerificationFailure(
            f"the registry's head #{state.anchor.index} is (size {size}, root 0x{root.hex()}, "
            f"time {timestamp}); the bundle's is (size {head.tree_size}, "
            f"root 0x{head.root_hash.hex()}, time {head.timestamp})"
        )
    if block_number != state.anchor.block_number:
        raise VerificationFailure(
            f"head #{state.anchor.index} was anchored in block {block_number}, "
            f"the bundle says {state.anchor.block_number}"
        )
    return f"head #{state.anchor.index} anchored in block {block_number}"


def _check_signature(state: _Parsed) -> str:
    assert state.registry is not None and state.anchor is not None and state.head is not None
    domain = registry_domain(state.anchor.chain_id, state.registry.address)
    try:
        signer = state.head.signer(domain)
    except AILedgerError as error:
        raise VerificationFailure(f"tree-head signature is invalid: {error.message}") from None
    # The signer in force when the head was anchored: key rotation leaves old heads valid.
    anchorer = Anchorer(state.registry, state.head.head.log_id)
    expected = anchorer.signer_at(state.anchor.block_number)
    if signer != expected:
        raise VerificationFailure(
            f"tree head is signed by {signer}, the log's signer was {expected}"
        )
    return f"signed by the log's signer {signer}"


def _check_operator(state: _Parsed) -> str:
    assert state.registry is not None and state.head is not None and state.record is not None
    admin = state.registry.log_admin(state.head.head.log_id)
    if admin != state.record.operator:
        raise VerificationFailure(
            f"the record names operator {state.record.operator}, but the log belongs to "
            f"{admin}: only the log's admin can log decisions in its name"
        )
    return f"decided by {admin}, the log's admin"


def _check_anchor_tx(state: _Parsed, chain: Chain) -> str:
    assert state.registry is not None and state.anchor is not None and state.head is not None
    tx = "0x" + state.anchor.tx_hash.hex()
    try:
        receipt = chain.wait_for_receipt(state.anchor.tx_hash, timeout=5.0)
    except AILedgerError as error:
        if isinstance(error, ChainError) and not isinstance(error, RevertError):
            # An unknown transaction and an unreachable node look alike here;
            # the registry calls above already proved the node is reachable.
            raise VerificationFailure(f"transaction {tx} is not on this chain") from None
        raise
    head = state.head.head
    for event in state.registry.decode_logs(receipt, event="Anchored"):
        args = event.args
        if (
            args["log_id"] == head.log_id
            and args["index"] == state.anchor.index
            and args["tree_size"] == head.tree_size
            and args["root_hash"] == head.root_hash
        ):
            return f"transaction {tx} in block {receipt.block_number}"
    raise VerificationFailure(f"transaction {tx} did not anchor head #{state.anchor.index}")


def _check_identity(state: _Parsed, pins: Pins | None) -> str:
    assert state.registry is not None and state.anchor is not None and state.head is not None
    anchorer = Anchorer(state.registry, state.head.head.log_id)
    identity = log_identity(anchorer, [state.anchor.block_number])
    if pins is not None:
        pins.check(identity)
    return describe_identity(pins, identity)


def _hash32(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationFailure(f"{name} must be 0x-prefixed hex, got {type(value).__name__}")
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise VerificationFailure(f"{name} must be 0x-prefixed hex, got {value!r}") from None
    if len(raw) != 32:
        raise VerificationFailure(f"{name} must be 32 bytes, got {len(raw)}")
    return raw
