"""The Merkle tree of RFC 9162, section 2.1, in the RFC's own terms.

``MTH(D[n])`` is the Merkle Tree Hash of the n entries ``D[0:n]``; ``PATH(m, D[n])``
an inclusion proof (2.1.3); ``PROOF(m, D[n])`` a consistency proof (2.1.4). Proofs are
generated from ``subtree_hash(start, end) = MTH(D[start:end])`` so that storage decides
how that hash is found; verification follows 2.1.3.2 and 2.1.4.2 step by step and
raises :class:`InclusionProofError` or :class:`ConsistencyProofError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from ailedger.errors import IntegrityError, InvalidInputError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = HASH()

SubtreeHash = Callable[[int, int], bytes]
"""``subtree_hash(start, end)`` returns ``MTH(D[start:end])``."""


class ProofError(IntegrityError):
    """A proof, root or leaf hash failed verification."""


class InclusionProofError(ProofError):
    """An inclusion proof does not prove the leaf is in the tree."""


class ConsistencyProofError(ProofError):
    """A consistency proof does not prove the old tree is a prefix of the new one."""


def hash_leaf(entry: bytes) -> bytes:
    """``MTH({d0}) = HASH(0x00 || d0)``."""
    return hashlib.sha256(b"\x00" + entry).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """``HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """``k``, the largest power of two smaller than ``n`` (``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


def mth(entries: Sequence[bytes]) -> bytes:
    """``MTH(D[n])`` computed directly from the entries (for tests and small trees)."""
    if not entries:
        return EMPTY_ROOT
    if len(entries) == 1:
        return hash_leaf(entries[0])
    k = split(len(entries))
    return hash_children(mth(entries[:k]), mth(entries[k:]))


def path_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """The subtree ranges whose hashes form ``PATH(m, D[n])``, leaf level first."""
    _check_index(m, n)
    ranges, lo, hi = [], 0, n
    while hi - lo > 1:
        k = split(hi - lo)
        if m < lo + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            ranges.append((lo + k, hi))
            hi = lo + k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            ranges.append((lo, lo + k))
            lo += k
    return ranges[::-1]


def proof_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """The subtree ranges whose hashes form ``PROOF(m, D[n])`` (empty when m is 0 or n)."""
    _check_sizes(m, n)
    if m in (0, n):
        return []
    ranges, lo, hi, b = [], 0, n, True  # SUBPROOF(m - lo, D[lo:hi], b)
    while m - lo != hi - lo:
        k = split(hi - lo)
        if m - lo <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            ranges.append((lo + k, hi))
            hi = lo + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            ranges.append((lo, lo + k))
            lo, b = lo + k, False
    if not b:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        ranges.append((lo, hi))
    return ranges[::-1]


def inclusion_proof(m: int, n: int, subtree_hash: SubtreeHash) -> list[bytes]:
    """``PATH(m, D[n])``: the audit path of leaf ``m`` in the tree of size ``n``."""
    return [subtree_hash(start, end) for start, end in path_ranges(m, n)]


def consistency_proof(m: int, n: int, subtree_hash: SubtreeHash) -> list[bytes]:
    """``PROOF(m, D[n])``: proves the tree of size ``m`` is a prefix of the one of size ``n``."""
    return [subtree_hash(start, end) for start, end in proof_ranges(m, n)]


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check ``proof`` shows ``leaf_hash`` at ``index`` in the tree ``root`` (2.1.3.2)."""
    err = InclusionProofError
    _check_hash("leaf hash", leaf_hash, err)
    _check_hash("root hash", root, err)
    for i, p in enumerate(proof):
        _check_hash(f"inclusion proof hash {i}", p, err)
    if not 0 <= index < size:  # step 1
        raise err(f"leaf index is outside the tree: expected < {size}, got {index}")
    inner = (index ^ (size - 1)).bit_length()
    expected = inner + (index >> inner).bit_count()
    if len(proof) != expected:
        raise err(f"inclusion proof has wrong size: expected {expected}, got {len(proof)}")
    fn, sn, r = index, size - 1, leaf_hash  # steps 2-3
    for p in proof:  # step 4
        if sn == 0:
            raise err("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hash_children(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # step 5
        raise err("inclusion proof is shorter than the path to the root")
    if r != root:
        raise err(f"inclusion proof leads to another root: expected {root.hex()}, got {r.hex()}")


def verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, proof: Sequence[bytes]
) -> None:
    """Check ``proof`` shows tree ``first_hash`` (size ``first``) is a prefix of ``second_hash``.

    RFC 9162 2.1.4.2 defines proofs for ``0 < first < second``; equal sizes need an
    empty proof and equal roots. A proof from size 0 is refused: every new root would
    pass it, so it binds nothing (as in the transparency-dev reference).
    """
    err = ConsistencyProofError
    _check_hash("first root hash", first_hash, err)
    _check_hash("second root hash", second_hash, err)
    for i, c in enumerate(proof):
        _check_hash(f"consistency proof hash {i}", c, err)
    if first == 0:
        raise err(
            "a consistency proof from size 0 binds nothing (RFC 9162 defines proofs for "
            f"0 < m < n): got first size 0, second size {second}"
        )
    if not 0 < first <= second:
        raise err(f"tree shrinks: expected second size >= {first}, got {second}")
    if first == second:
        if proof:
            raise err(f"consistency proof has wrong size: expected 0, got {len(proof)}")
        if first_hash != second_hash:
            raise err(f"first root differs: expected {second_hash.hex()}, got {first_hash.hex()}")
        return
    fr, sr = consistency_roots(first, second, first_hash, proof)
    if fr != first_hash:
        raise err(
            f"consistency proof leads to another first root: expected {first_hash.hex()}, "
            f"got {fr.hex()}"
        )
    if sr != second_hash:
        raise err(
            f"consistency proof leads to another second root: expected "
            f"{second_hash.hex()}, got {sr.hex()}"
        )


def consistency_roots(
    first: int, second: int, first_hash: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """Steps 1-7 of RFC 9162 2.1.4.2 for ``0 < first < second``: the roots ``(fr, sr)``
    of the two trees that ``proof`` leads to (``first_hash`` only seeds a power-of-two
    ``first``). The proof is valid when they equal the two claimed roots.
    """
    err = ConsistencyProofError
    shift = (first & -first).bit_length() - 1
    inner = ((first - 1) ^ (second - 1)).bit_length() - shift
    border = ((first - 1) >> (inner + shift)).bit_count()
    expected = inner + border + (0 if first == 1 << shift else 1)
    if len(proof) != expected:  # also covers step 1 (an empty proof)
        raise err(f"consistency proof has wrong size: expected {expected}, got {len(proof)}")
    path = list(proof)
    if first == 1 << shift:  # step 2
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise err("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr, sr = hash_children(c, fr), hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = hash_children(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # step 7
        raise err("consistency proof is shorter than the path to the root")
    return fr, sr


def _check_hash(name: str, value: object, err: type[ProofError]) -> None:
    if not isinstance(value, bytes | bytearray):
        raise InvalidInputError(f"{name} must be bytes, got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise err(f"{name} has wrong length: expected {HASH_SIZE} bytes, got {len(value)}")


def _check_index(m: int, n: int) -> None:
    if not 0 <= m < n:
        raise InvalidInputError(
            f"leaf index out of range: expected 0 <= index < {n}, got {m}", field="index"
        )


def _check_sizes(m: int, n: int) -> None:
    if not 0 <= m <= n:
        raise InvalidInputError(
            f"consistency proof sizes out of order: expected 0 <= old <= {n}, got {m}",
            field="old_size",
        )
