"""``verify_log``: recompute the tree from the stored records and check it against
everything that commits to it — the stored nodes, the signed heads, and the heads
anchored on chain (with consistency proofs between consecutive ones).

A changed record breaks its leaf hash; a removed, inserted or reordered one breaks
the stored nodes above it or leaves a gap; a history rewritten with freshly computed
nodes no longer matches the heads on chain. The error names the first record that
can be wrong: exactly for a change the stored nodes reveal, otherwise the first
record after the last head that still matches.
"""

from __future__ import annotations

from dataclasses import dataclass

from ailedger.core.log.anchor import Anchorer, ChainHead
from ailedger.core.log.heads import Anchor
from ailedger.core.log.log import subtree_hashes
from ailedger.core.log.merkle import EMPTY_ROOT, HASH_SIZE, ProofError, hash_leaf, proof_ranges
from ailedger.core.log.merkle import verify_consistency as _verify_consistency
from ailedger.core.log.nodes import CompactRange
from ailedger.core.log.store import LogStore
from ailedger.errors import AILedgerError, IntegrityError


class LogTamperedError(IntegrityError):
    """The log's records disagree with what commits to them.

    ``index`` is the first record that may be bad: every record before it is proven by
    what was checked. ``last`` is the record by which the damage is certain; the two are
    equal when the evidence pins one record (a changed record, a gap), otherwise the
    first bad record lies in ``index .. last``.
    """

    def __init__(self, message: str, *, index: int, last: int | None = None) -> None:
        super().__init__(message, field="records")
        self.index = index
        self.last = index if last is None else last


@dataclass(frozen=True)
class LogReport:
    """What a successful verification covered."""

    records: int
    root: bytes
    signed_heads: int
    chain_heads: int
    anchored_size: int


def verify_log(store: LogStore, anchorer: Anchorer | None = None) -> LogReport:
    """Check the whole log; raise :class:`LogTamperedError` at the first bad record.

    With an ``anchorer`` the heads anchored on chain are checked too (they are the
    part an operator cannot rewrite); without one only the store's own commitments.
    """
    stored_heads = store.heads()
    # Read before the chain: another writer may anchor meanwhile, and a stored anchor is
    # written after its transaction, so every one read now is in the chain read next.
    stored_anchors = store.anchors()
    chain_heads = anchorer.chain_heads() if anchorer is not None else []
    checkpoints = {h.head.tree_size for h in stored_heads} | {c.tree_size for c in chain_heads}
    findings: list[LogTamperedError] = []
    size, roots = _check_records(store, checkpoints, findings)

    previous = 0
    for signed in stored_heads:
        h = signed.head
        _check_root("signed head", h.tree_size, h.root_hash, size, roots, previous, findings)
        if anchorer is not None and h.log_id != anchorer.log_id:
            findings.append(
                LogTamperedError(
                    f"signed head of size {h.tree_size} names log 0x{h.log_id.hex()}, "
                    f"expected 0x{anchorer.log_id.hex()}",
                    index=previous,
                )
            )
        previous = h.tree_size
    if anchorer is not None:
        _check_signatures(store, anchorer, chain_heads, findings)
        _check_chain(store, stored_anchors, chain_heads, size, roots, findings)

    if findings:
        raise min(findings, key=lambda f: f.index)
    anchored = chain_heads[-1].tree_size if chain_heads else 0
    return LogReport(size, roots[size], len(stored_heads), len(chain_heads), anchored)


def _check_records(
    store: LogStore, checkpoints: set[int], findings: list[LogTamperedError]
) -> tuple[int, dict[int, bytes]]:
    """Recompute every row's nodes; return how many rows verify and the roots at checkpoints."""
    tree = CompactRange()
    roots = {0: EMPTY_ROOT}
    for index, entry, stored in store.scan():
        if index != tree.size:
            findings.append(
                LogTamperedError(
                    f"record {tree.size} is missing (the next stored record is {index})",
                    index=tree.size,
                )
            )
            return tree.size, roots
        computed = tree.append(hash_leaf(entry))
        if computed != stored:
            findings.append(_node_mismatch(index, computed, stored))
            return index, roots
        if tree.size in checkpoints:
            roots[tree.size] = tree.root()
    roots[tree.size] = tree.root()
    return tree.size, roots


def _node_mismatch(index: int, computed: bytes, stored: bytes) -> LogTamperedError:
    """Locate the damage from the lowest tree level at which row ``index`` disagrees.

    The node of level ``l`` ending at ``index`` covers ``2**l`` records; every row before
    ``index`` verified, so the damage is within that subtree.
    """
    levels = min(len(computed), len(stored)) // HASH_SIZE
    for level in range(levels):
        part = slice(level * HASH_SIZE, (level + 1) * HASH_SIZE)
        if computed[part] != stored[part]:
            if level == 0:
                return LogTamperedError(
                    f"record {index} was changed: its leaf hash is {computed[part].hex()}, "
                    f"the stored tree has {stored[part].hex()}",
                    index=index,
                )
            first = index + 1 - (1 << level)
            return LogTamperedError(
                f"records {first}..{index} were changed, removed, inserted or reordered: "
                f"their subtree hash is {computed[part].hex()}, the stored tree has "
                f"{stored[part].hex()}",
                index=first,
                last=index,
            )
    # Same nodes as far as both go, but a different count: the row was made for another
    # position. The first level one side lacks bounds the subtree the damage is in.
    first = max(0, index + 1 - (1 << levels))
    return LogTamperedError(
        f"record {index} sits at the wrong position: it carries "
        f"{len(stored) // HASH_SIZE} tree nodes, expected {len(computed) // HASH_SIZE}; "
        f"records {first}..{index} were removed, inserted or reordered",
        index=first,
        last=index,
    )


def _check_root(
    what: str,
    tree_size: int,
    root: bytes,
    size: int,
    roots: dict[int, bytes],
    previous: int,
    findings: list[LogTamperedError],
) -> bool:
    if tree_size > size:
        findings.append(
            LogTamperedError(
                f"{what} of size {tree_size} covers records that are missing or bad from "
                f"index {size} on",
                index=size,
            )
        )
        return False
    if roots[tree_size] != root:
        findings.append(
            LogTamperedError(
                f"{what} of size {tree_size} has root {root.hex()}, the records give "
                f"{roots[tree_size].hex()}: a record from index {previous} to "
                f"{tree_size - 1} was rewritten",
                index=previous,
                last=tree_size - 1,
            )
        )
        return False
    return True


def _check_signatures(
    store: LogStore,
    anchorer: Anchorer,
    chain_heads: list[ChainHead],
    findings: list[LogTamperedError],
) -> None:
    """Every stored head must carry a valid signature: an anchored one that of the signer
    and key epoch in force at its anchor block, with the chain's timestamp (the registry
    checked exactly that head); one not yet anchored that of the current signer and epoch
    (any other could never be anchored)."""
    on_chain = {c.tree_size: c for c in chain_heads}
    changes = anchorer.signer_changes()
    previous = 0
    for signed in store.heads():
        h = signed.head
        anchored = on_chain.get(h.tree_size)
        block = anchored.block_number if anchored else None
        in_force = [c for c in changes if block is None or c[0] <= block]
        problem = None
        if not in_force:
            problem = "the log was not registered when it was anchored"
        elif anchored is not None and anchored.timestamp != h.timestamp:
            problem = (
                f"its timestamp is {h.timestamp} ms, the anchored head's is {anchored.timestamp} ms"
            )
        elif h.key_epoch != len(in_force) - 1:
            problem = f"it is signed for key epoch {h.key_epoch}, expected {len(in_force) - 1}"
        else:
            try:
                signed.verify(anchorer.domain, in_force[-1][2])
            except AILedgerError as error:
                problem = f"its signature is not the log signer's: {error}"
        if problem:
            findings.append(
                LogTamperedError(
                    f"signed head of size {h.tree_size} is forged or corrupted: {problem}",
                    index=previous,
                )
            )
        previous = h.tree_size


def _check_chain(
    store: LogStore,
    stored_anchors: list[Anchor],
    chain_heads: list[ChainHead],
    size: int,
    roots: dict[int, bytes],
    findings: list[LogTamperedError],
) -> None:
    anchors = {a.tree_size: a for a in stored_anchors}
    previous: ChainHead | None = None
    for head in chain_heads:
        start = previous.tree_size if previous else 0
        if not _check_root(
            "anchored head", head.tree_size, head.root_hash, size, roots, start, findings
        ):
            break
        if previous is not None:
            # The stored nodes below `size` were checked above, so proofs read from them
            # are the records' own: a fork on chain fails here.
            proof = subtree_hashes(store, proof_ranges(previous.tree_size, head.tree_size))
            try:
                _verify_consistency(
                    previous.tree_size, head.tree_size, previous.root_hash, head.root_hash, proof
                )
            except ProofError as error:
                findings.append(
                    LogTamperedError(
                        f"anchored heads {previous.tree_size} and {head.tree_size} are not "
                        f"consistent: {error}",
                        index=start,
                        last=head.tree_size - 1,
                    )
                )
                break
        anchor = anchors.get(head.tree_size)
        if anchor is not None and (anchor.index, anchor.block_number) != (
            head.index,
            head.block_number,
        ):
            findings.append(
                LogTamperedError(
                    f"stored anchor of size {head.tree_size} names registry head "
                    f"{anchor.index} in block {anchor.block_number}, the chain has it at "
                    f"{head.index} in block {head.block_number}",
                    index=start,
                )
            )
        previous = head
    chain_sizes = {c.tree_size for c in chain_heads}
    for tree_size in sorted(set(anchors) - chain_sizes):
        findings.append(
            LogTamperedError(
                f"the store says the head of size {tree_size} is anchored, the chain has no "
                "such head",
                index=min(tree_size, size),
            )
        )
