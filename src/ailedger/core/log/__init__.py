"""A verifiable, append-only decision log: an RFC 9162 Merkle tree anchored on chain.

Public API (stable; everything else in this package may change)::

    open_store(settings, *, name="decisions") -> LogStore      # SQLite in the data dir, or
                                                               # PostgreSQL at database_url
    TransparencyLog(store, *, anchorer=None, policy=BatchPolicy(), clock=time.time)
        .size -> int
        .append(data: bytes) -> LeafRef(index, leaf_hash)      # durable when it returns
        .append_many(items: Iterable[bytes]) -> LeafRefs        # one transaction; a
                                                  # Sequence[LeafRef], refs made when read
        .record(index) -> bytes
        .leaf_hash(index) -> bytes
        .root(size=None) -> bytes
        .inclusion_proof(index, size=None) -> InclusionProof(leaf_index, tree_size, hashes)
        .consistency_proof(old_size, new_size=None) -> ConsistencyProof(old_size, new_size, hashes)
        .head() -> SignedTreeHead | None;  .heads() -> list[SignedTreeHead]
        .anchors() -> list[Anchor]
        .batch_due() -> bool;  .poll() -> SignedTreeHead | None  # close by size or age
        .close_batch() -> SignedTreeHead | None                 # sign, store, anchor (1 tx)
        .anchor_pending() -> list[Anchor]                        # resume after a crash
        .close()
    BatchPolicy(max_records=10_000, max_seconds=60.0)
    Anchorer(registry: Contract, log_id: bytes, *, signer=None, sender=None)
    Anchorer.register(registry, name, *, admin, signer, sender=None) -> Anchorer
        .domain; .log_id; .sign(TreeHead) -> SignedTreeHead  # for the current key epoch
        .anchor(SignedTreeHead, consistency_proof=()) -> Anchor  # proof from anchored_size()
        .key_epoch(); .anchored_size(); .signer_changes(); .key_at(block)
        .chain_heads() -> list[ChainHead]; .log_signer() -> str
        .signer_at(block_number) -> str   # the signer in force then (survives key rotation)
    TreeHead(log_id, tree_size, root_hash, timestamp, key_epoch=0)  # timestamp in ms
        .sign(account, domain) -> SignedTreeHead; .to_dict(); TreeHead.from_dict(d)
    SignedTreeHead(head, signature).verify(domain, signer); .signer(domain); .to_dict/.from_dict
    Anchor(tree_size, chain_id, registry, index, tx_hash, block_number); .to_dict/.from_dict
    InclusionProof.verify(leaf_hash, root); ConsistencyProof.verify(old_root, new_root)
    registry_domain(chain_id, registry_address) -> Domain
    verify_log(store, anchorer=None) -> LogReport  # raises LogTamperedError(index, last)
    promise_for(log, ref) -> SignedPromise    # signed: ref anchored within max_delay_ms
    check_promise(signed, anchorer, inclusion_proof=None) -> PromiseCheck  # kept/pending/broken
    evidence(signed, check, checker) -> dict  # a broken promise, signed by the checker
    hash_leaf(data) -> bytes; verify_inclusion(...); verify_consistency(...)  # RFC 9162
    # ailedger.core.log.bundle (imported by name: it reads contracts and trust):
    build_bundle(log, leaf_index, kind=None) -> dict  # one proof format, any record kind
    verify_bundle(bundle, chain, pins=None, *, kinds=None) -> Verdict(ok, checks, ...)
    register_record_kind(RecordKind(bundle_type, noun, to_json, check)) -> RecordKind
    Errors: ProofError > InclusionProofError, ConsistencyProofError; LogTamperedError
            (all IntegrityError); bad arguments raise InvalidInputError / NotFoundError.

Example::

    >>> from ailedger.config import Settings
    >>> log = TransparencyLog(open_store(Settings(home=tmp)))  # doctest: +SKIP
    >>> ref = log.append(b'{"decision": "approve"}')  # doctest: +SKIP
    >>> log.inclusion_proof(ref.index).verify(ref.leaf_hash, log.root())  # doctest: +SKIP
"""

from __future__ import annotations

from ailedger.config import Settings
from ailedger.core.log.anchor import Anchorer, ChainHead, log_name
from ailedger.core.log.heads import (
    TREE_HEAD_TYPES,
    Anchor,
    SignedTreeHead,
    TreeHead,
    registry_domain,
)
from ailedger.core.log.log import MAX_RECORD_BYTES, BatchPolicy, TransparencyLog
from ailedger.core.log.merkle import (
    EMPTY_ROOT,
    ConsistencyProofError,
    InclusionProofError,
    ProofError,
    hash_leaf,
    verify_consistency,
    verify_inclusion,
)
from ailedger.core.log.promises import (
    InclusionPromise,
    PromiseCheck,
    SignedPromise,
    check_promise,
    evidence,
    promise_for,
    promise_inclusion,
)
from ailedger.core.log.proofs import ConsistencyProof, InclusionProof, LeafRef, LeafRefs
from ailedger.core.log.sqlstore import PostgresStore, SqliteStore
from ailedger.core.log.store import LogStore
from ailedger.core.log.verify import LogReport, LogTamperedError, verify_log
from ailedger.errors import InvalidInputError


def open_store(settings: Settings, *, name: str = "decisions", read_only: bool = False) -> LogStore:
    """The store of log ``name``: PostgreSQL schema ``log_<name>`` when
    ``settings.database_url`` is set, else ``<home>/logs/<name>.sqlite3``.

    ``read_only``: write nothing (verification of a read-only copy); a missing log is
    a :class:`NotFoundError` then, not a new empty one.
    """
    if not name.isidentifier():
        raise InvalidInputError(f"log name: expected an identifier, got {name!r}", field="name")
    url = settings.database_url
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            # Only the scheme is shown: the rest of a URL may hold a password.
            scheme = f"{url.split('://')[0]}://..." if "://" in url else "a URL with no scheme"
            raise InvalidInputError(
                f"database_url: expected a postgresql:// URL, got {scheme}",
                field="database_url",
            )
        return PostgresStore(url, schema=f"log_{name}", read_only=read_only)
    if read_only:
        return SqliteStore(settings.home / "logs" / f"{name}.sqlite3", read_only=True)
    settings.ensure_home()
    return SqliteStore(settings.home / "logs" / f"{name}.sqlite3")


__all__ = [
    "EMPTY_ROOT",
    "MAX_RECORD_BYTES",
    "TREE_HEAD_TYPES",
    "Anchor",
    "Anchorer",
    "BatchPolicy",
    "ChainHead",
    "ConsistencyProof",
    "ConsistencyProofError",
    "InclusionPromise",
    "InclusionProof",
    "InclusionProofError",
    "LeafRef",
    "LeafRefs",
    "LogReport",
    "LogStore",
    "LogTamperedError",
    "PostgresStore",
    "PromiseCheck",
    "ProofError",
    "SignedPromise",
    "SignedTreeHead",
    "SqliteStore",
    "TransparencyLog",
    "TreeHead",
    "check_promise",
    "evidence",
    "hash_leaf",
    "log_name",
    "open_store",
    "promise_for",
    "promise_inclusion",
    "registry_domain",
    "verify_consistency",
    "verify_inclusion",
    "verify_log",
]
