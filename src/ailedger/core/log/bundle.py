"""One proof format for every record of every log, checked by a stranger with chain access.

A bundle proves that one record is in a log whose head is anchored on chain::

    {
      "bundle_type":     names the record kind, e.g. "ailedger.audit.proof/v1",
      "record":          the record, as its kind writes it in JSON,
      "leaf_hash":       "0x..." RFC 9162 leaf hash of the record's bytes,
      "inclusion_proof": {"leaf_index", "tree_size", "hashes": ["0x...", ...]},
      "tree_head":       {"log_id", "tree_size", "root_hash", "timestamp", "signature"},
      "anchor":          {"tree_size", "chain_id", "registry", "index", "tx_hash",
                          "block_number"}
    }

The tree head is the first anchored head that covers the record, so a record's
bundle stays the same however much the log grows afterwards.

A domain plugs its records in with a :class:`RecordKind` (its ``bundle_type``,
how its record reads from and to JSON, and its own checks), registered with
:func:`register_record_kind`; core imports no domain. Two kinds are built in:
``ailedger.log.proof/v1`` (a record whose bytes are canonical JSON, shown as that
JSON) and ``ailedger.log.raw-proof/v1`` (any bytes, shown as hex).

:func:`verify_bundle` needs only the bundle and read access to the chain; it
trusts nothing the operator says. It checks, in order, stopping at the first
failure (:data:`CHECKS`):

1. ``format``: the bundle has every field, of the right type, of a known kind.
2. ``record``: the record is well formed for its kind and passes its kind's checks.
3. ``leaf_hash``: the record's bytes hash (RFC 9162 leaf hash) to the leaf hash
   the bundle claims; a changed record fails here.
4. ``inclusion``: the inclusion proof leads from that leaf, at that index, to the
   tree head's root (RFC 9162 2.1.3.2).
5. ``chain``: the connected chain is the one the bundle names, and the code at
   the registry address is the ``AnchorRegistry`` compiled from this package's
   sources, byte for byte, immutables included. Every later check asks it.
6. ``anchored_head``: the registry holds exactly this tree head (size, root,
   timestamp) at the bundle's head index, anchored in the named block.
7. ``signature``: the tree head's EIP-712 signature recovers to the key that was
   the log's signer when the head was anchored.
8. ``operator``: an operator the record names is the log's admin in the registry
   (only that account can have registered the log, so nobody else can log a
   record in the operator's name). Kinds whose records name none pass, saying so.
9. ``anchor_tx``: the named transaction emitted that ``Anchored`` event.
   Then the record kind's own ``chain_checks``, if it has any.
10. ``identity``: with ``pins`` (see :mod:`ailedger.core.trust`), the chain,
    registry, log, operator and the signer at the anchor block are the pinned
    ones. Without pins it passes but says plainly that the identity was not pinned.

Example::

    >>> bundle = build_bundle(log, 7)  # doctest: +SKIP
    >>> verify_bundle(bundle, chain, pins).ok  # doctest: +SKIP
    True
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ailedger import contracts
from ailedger.core.chain import Chain, Contract
from ailedger.core.identity import canonical_json
from ailedger.core.log.anchor import Anchorer
from ailedger.core.log.heads import Anchor, SignedTreeHead, registry_domain
from ailedger.core.log.merkle import hash_leaf
from ailedger.core.log.proofs import InclusionProof
from ailedger.core.trust import Pins, describe_identity, log_identity
from ailedger.errors import AILedgerError, ChainError, InvalidInputError, NotFoundError, RevertError

if TYPE_CHECKING:
    from ailedger.core.log.log import TransparencyLog

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
BUNDLE_FIELDS = ("record", "leaf_hash", "inclusion_proof", "tree_head", "anchor")


# -- record kinds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedRecord:
    """A bundle's record as its kind read and checked it.

    ``data`` is the exact bytes the log holds (its leaf hash is ``hash_leaf(data)``);
    ``operator`` the account the record says logged it, checked against the log's
    admin, or ``None`` if records of this kind name none; ``detail`` the line the
    ``record`` check shows; ``value`` the domain's own object (e.g. a decision record).
    ``anchor`` is set, once the anchor is checked, for the kind's ``chain_checks``
    (e.g. to read the chain as it was at the anchor block).
    """

    data: bytes
    record_id: str | None
    detail: str
    operator: str | None = None
    value: Any = field(default=None, repr=False)
    anchor: Anchor | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RecordKind:
    """How one kind of record travels in a bundle.

    ``to_json`` turns the logged bytes into the bundle's ``record`` value (raising
    ``InvalidInputError`` if they are not of this kind); ``check`` reads that value
    back, runs the kind's own checks and raises an ``AILedgerError`` naming what is
    wrong. ``noun`` names one record in messages ("decision"); ``logged_by`` is the
    operator check's wording ("decided by"). ``chain_checks`` are the kind's own
    checks against the chain, each ``(name, check(record, chain) -> detail)``, run
    after ``anchor_tx`` (the chain is then known to be the bundle's): e.g. that a
    call receipt is signed by the model's registered owner.
    """

    bundle_type: str
    noun: str
    to_json: Callable[[bytes], Any]
    check: Callable[[Any], CheckedRecord]
    logged_by: str = "logged by"
    chain_checks: tuple[tuple[str, Callable[[CheckedRecord, Chain], str]], ...] = ()


_KINDS: dict[str, RecordKind] = {}


def register_record_kind(kind: RecordKind) -> RecordKind:
    """Make ``kind`` known to :func:`verify_bundle`; returns it, so a domain can write
    ``DECISIONS = register_record_kind(RecordKind(...))``. Registering the same kind
    again is harmless; another kind under a taken ``bundle_type`` is refused."""
    known = _KINDS.setdefault(kind.bundle_type, kind)
    if known is not kind and known != kind:
        raise InvalidInputError(
            f"bundle_type {kind.bundle_type!r} is already registered for another record kind",
            field="bundle_type",
        )
    return known


def record_kinds() -> tuple[RecordKind, ...]:
    """Every registered kind, in registration order (the built-in ones first)."""
    return tuple(_KINDS.values())


def record_kind(bundle_type: str) -> RecordKind:
    """The registered kind of ``bundle_type``; ``InvalidInputError`` naming the known ones."""
    kind = _KINDS.get(bundle_type)
    if kind is None:
        known = ", ".join(_KINDS)
        raise InvalidInputError(
            f"unknown bundle_type {bundle_type!r}: expected one of {known}", field="bundle_type"
        )
    return kind


def _json_to_json(data: bytes) -> Any:
    try:
        value = json.loads(data)
        canonical = canonical_json(value)
    except (ValueError, UnicodeDecodeError):
        canonical = None
    if canonical != data:
        raise InvalidInputError(
            "record is not canonical JSON; prove it as ailedger.log.raw-proof/v1",
            field="record",
        )
    return value


def _check_json(value: Any) -> CheckedRecord:
    data = canonical_json(value)
    return CheckedRecord(data, None, f"canonical JSON, {len(data)} bytes", value=value)


def _raw_to_json(data: bytes) -> str:
    return "0x" + data.hex()


def _check_raw(value: Any) -> CheckedRecord:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise InvalidInputError(
            f"record: expected 0x-prefixed hex, got {type(value).__name__}", field="record"
        )
    try:
        data = bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidInputError(f"record: expected hex, got {value!r}", field="record") from None
    return CheckedRecord(data, None, f"{len(data)} bytes", value=data)


JSON_RECORDS = register_record_kind(
    RecordKind("ailedger.log.proof/v1", "record", _json_to_json, _check_json)
)
RAW_RECORDS = register_record_kind(
    RecordKind("ailedger.log.raw-proof/v1", "record", _raw_to_json, _check_raw)
)


def generic_kind(data: bytes) -> RecordKind:
    """The built-in kind for ``data``: JSON if it is canonical JSON, else raw bytes."""
    try:
        _json_to_json(data)
    except InvalidInputError:
        return RAW_RECORDS
    return JSON_RECORDS


# -- building -------------------------------------------------------------------------------


class AnchoredHeads:
    """A log's anchored heads, read once, to find the first one covering a leaf."""

    def __init__(self, log: TransparencyLog) -> None:
        heads = {signed.head.tree_size: signed for signed in log.heads()}
        # Oldest first; a head is usable once it is both signed and anchored.
        self._covering = [
            (a.tree_size, heads[a.tree_size], a) for a in log.anchors() if a.tree_size in heads
        ]
        self._sizes = [size for size, _, _ in self._covering]

    def covering(self, leaf_index: int) -> tuple[SignedTreeHead, Anchor] | None:
        """The first anchored head whose tree contains ``leaf_index``, with its anchor."""
        position = bisect.bisect_right(self._sizes, leaf_index)
        if position == len(self._covering):
            return None
        _, signed, anchor = self._covering[position]
        return signed, anchor


def build_bundle(
    log: TransparencyLog,
    leaf_index: int,
    kind: RecordKind | None = None,
    *,
    anchored: AnchoredHeads | None = None,
    subject: str | None = None,
) -> dict[str, Any]:
    """The proof bundle of record ``leaf_index`` of ``log``, from its first covering head.

    ``kind`` defaults to :func:`generic_kind` of the record. ``anchored`` lets a
    caller building many bundles read the log's heads once; ``subject`` names the
    record in errors ("decision 3f..."). Raises ``NotFoundError`` for an index
    outside the log or when no anchored head covers the record yet (close the log's
    batch first), ``InvalidInputError`` for a record not of ``kind``.
    """
    data = log.record(leaf_index)
    kind = kind or generic_kind(data)
    record = kind.to_json(data)
    covering = (anchored or AnchoredHeads(log)).covering(leaf_index)
    if covering is None:
        what = f"{subject} (log entry {leaf_index})" if subject else f"log entry {leaf_index}"
        raise NotFoundError(
            f"{what} is not anchored yet: no anchored tree head covers it; "
            "close the log's batch first",
            field="leaf_index",
        )
    signed, anchor = covering
    return {
        "bundle_type": kind.bundle_type,
        "record": record,
        "leaf_hash": "0x" + log.leaf_hash(leaf_index).hex(),
        "inclusion_proof": log.inclusion_proof(leaf_index, signed.head.tree_size).to_dict(),
        "tree_head": signed.to_dict(),
        "anchor": anchor.to_dict(),
    }


# -- verifying ------------------------------------------------------------------------------


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
    """The result of verifying a bundle: ``ok`` only if every check passed.

    ``record`` is the kind's own object for the record (``CheckedRecord.value``) once
    the ``record`` check has passed.
    """

    ok: bool
    checks: tuple[Check, ...]
    bundle_type: str | None = None
    leaf_index: int | None = None
    record_id: str | None = None
    record: Any = field(default=None, repr=False)

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
            "bundle_type": self.bundle_type,
            "leaf_index": self.leaf_index,
            "record_id": self.record_id,
            "reason": self.reason,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


@dataclass
class _Parsed:
    kind: RecordKind | None = None
    record_data: Any = None
    record: CheckedRecord | None = None
    leaf_hash: bytes = b""
    proof: InclusionProof | None = None
    head: SignedTreeHead | None = None
    anchor: Anchor | None = None
    registry: Contract | None = None


def verify_bundle(
    bundle: Mapping[str, Any],
    chain: Chain,
    pins: Pins | None = None,
    *,
    kinds: Iterable[RecordKind] | None = None,
) -> Verdict:
    """Check a proof bundle against the chain; never trusts the operator's database.

    ``pins`` name whom the verifier trusts (see :mod:`ailedger.core.trust`);
    ``kinds`` the record kinds accepted (default: every registered kind).

    Returns a :class:`Verdict`; a tampered or malformed bundle gives ``ok=False``
    with the reason. Only a chain that cannot be reached raises (``ChainError``).
    """
    accepted = {kind.bundle_type: kind for kind in (record_kinds() if kinds is None else kinds)}
    state = _Parsed()
    steps: list[tuple[str, Callable[[], str]]] = [
        ("format", lambda: _check_format(bundle, accepted, state)),
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
    for name, step in _with_kind_checks(steps, state, chain):
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
    record = state.record
    expected = len(steps) + (len(state.kind.chain_checks) if state.kind else 0)
    return Verdict(
        ok=len(checks) == expected and all(c.ok for c in checks),
        checks=tuple(checks),
        bundle_type=state.kind.bundle_type if state.kind else None,
        leaf_index=state.proof.leaf_index if state.proof else None,
        record_id=record.record_id if record else None,
        record=record.value if record else None,
    )


def _with_kind_checks(
    steps: list[tuple[str, Callable[[], str]]], state: _Parsed, chain: Chain
) -> Iterator[tuple[str, Callable[[], str]]]:
    """The core steps, with the record kind's chain checks (known once ``format`` has
    read the bundle_type) before ``identity``."""
    for name, step in steps:
        if name == "identity" and state.kind is not None:
            for kind_name, kind_check in state.kind.chain_checks:
                yield kind_name, _bind(kind_check, state, chain)
        yield name, step


def _bind(
    kind_check: Callable[[CheckedRecord, Chain], str], state: _Parsed, chain: Chain
) -> Callable[[], str]:
    def run() -> str:
        assert state.record is not None
        return kind_check(replace(state.record, anchor=state.anchor), chain)

    return run


def _check_format(
    bundle: Mapping[str, Any], accepted: Mapping[str, RecordKind], state: _Parsed
) -> str:
    if not isinstance(bundle, Mapping):
        raise VerificationFailure(f"bundle must be a JSON object, got {type(bundle).__name__}")
    bundle_type = bundle.get("bundle_type")
    kind = accepted.get(bundle_type) if isinstance(bundle_type, str) else None
    if kind is None:
        expected = " or ".join(repr(name) for name in accepted)
        raise VerificationFailure(f"bundle_type must be {expected}, got {bundle_type!r}")
    for name in BUNDLE_FIELDS:
        if name not in bundle:
            raise VerificationFailure(f"missing field {name!r}")
    for name in ("inclusion_proof", "tree_head", "anchor"):
        if not isinstance(bundle[name], dict):
            raise VerificationFailure(
                f"{name} must be an object, got {type(bundle[name]).__name__}"
            )
    proof = InclusionProof.from_dict(bundle["inclusion_proof"])
    state.kind = kind
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
    assert state.kind is not None
    state.record = state.kind.check(state.record_data)
    return state.record.detail


def _check_leaf_hash(state: _Parsed) -> str:
    assert state.record is not None
    actual = hash_leaf(state.record.data)
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
    expected = Anchorer(state.registry, state.head.head.log_id).signer_at(state.anchor.block_number)
    if signer != expected:
        raise VerificationFailure(
            f"tree head is signed by {signer}, the log's signer was {expected}"
        )
    return f"signed by the log's signer {signer}"


def _check_operator(state: _Parsed) -> str:
    assert state.registry is not None and state.head is not None
    assert state.record is not None and state.kind is not None
    admin = state.registry.log_admin(state.head.head.log_id)
    named = state.record.operator
    if named is None:
        return f"the record names no operator; the log's admin is {admin}"
    if admin != named:
        raise VerificationFailure(
            f"the record names operator {named}, but the log belongs to "
            f"{admin}: only the log's admin can log {state.kind.noun}s in its name"
        )
    return f"{state.kind.logged_by} {admin}, the log's admin"


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
