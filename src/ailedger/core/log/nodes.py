"""Where the tree's hashes live, so that any proof needs only O(log n) stored hashes.

A *perfect subtree* ``(level, j)`` covers the leaves ``[j * 2**level, (j + 1) * 2**level)``.
Its hash never changes once its last leaf is appended, so it is stored with that leaf:
the row of leaf ``i`` carries, concatenated, the hashes of every perfect subtree ending
at ``i`` — levels ``0 .. t`` where ``t`` is the number of trailing one bits of ``i`` (on
average two hashes a row). Nothing is ever rewritten, and a node is one primary-key
lookup away: :func:`node_row` tells which row, :func:`node_offset` where in it.

Every subtree the RFC's proofs ask for, ``D[start:end]``, starts at a multiple of the
largest power of two not above its size, so it splits into perfect subtrees of strictly
decreasing size (:func:`perfect_subtrees`) whose hashes fold from the right into
``MTH(D[start:end])`` (:func:`fold`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ailedger.core.log.merkle import EMPTY_ROOT, HASH_SIZE, hash_children


def node_row(level: int, index: int) -> int:
    """The leaf whose row stores perfect subtree ``(level, index)``: its last leaf."""
    return ((index + 1) << level) - 1


def node_offset(level: int) -> int:
    """Byte offset of a level-``level`` hash inside a row's node blob."""
    return level * HASH_SIZE


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """``D[start:end]`` as perfect subtrees ``(level, index)``, left to right, largest first.

    Raises ``ValueError`` for a range that is not a subtree of an RFC 9162 tree (its
    start not aligned to the largest power of two not above its size): such a range
    has no single MTH made from stored nodes.
    """
    size = end - start
    if size <= 0 or start % (1 << (size.bit_length() - 1)):
        raise ValueError(f"[{start}, {end}) is not a subtree of an RFC 9162 tree")
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of perfect subtrees of decreasing size: each one is the left child of the rest."""
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = hash_children(left, root)
    return root


class CompactRange:
    """The right border of the tree ``D[0:n]``: one perfect subtree per set bit of ``n``,
    largest first. Enough to append and to compute the current root without storage.
    """

    __slots__ = ("_hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError(
                f"a tree of size {size} has {size.bit_count()} peaks, got {len(hashes)}"
            )
        self.size = size
        self._hashes = list(hashes)

    def append(self, leaf_hash: bytes) -> bytes:
        """Add a leaf; return the node blob for its row (every subtree it completes)."""
        return self.extend([leaf_hash])[0]

    def extend(self, leaf_hashes: Sequence[bytes]) -> list[bytes]:
        """Add leaves; return each one's node blob (its leaf hash, then every subtree it
        completes, lowest level first).

        Works a level at a time so that the hashing runs in list comprehensions (the hot
        path of appending): the new nodes of a level pair up, after the peak left of
        them when they start at an odd index, into the next level's nodes; an odd one
        out at the end is the level's new peak.
        """
        sha256, start = hashlib.sha256, self.size
        blobs = list(leaf_hashes)
        nodes, first, level = blobs, start, 0  # `first`: level index of nodes[0]
        kept = len(self._hashes)  # old peaks, highest first, not merged (yet)
        new_peaks = []
        while nodes:
            if first & 1:
                kept -= 1
                nodes = [self._hashes[kept], *nodes]
                first -= 1
            if len(nodes) & 1:
                new_peaks.append(nodes[-1])
            pairs = zip(nodes[::2], nodes[1::2], strict=False)  # drops the odd one out
            nodes = [sha256(b"\x01" + a + b).digest() for a, b in pairs]
            level, first = level + 1, first >> 1
            if nodes:  # node j of this level is stored in the row of leaf (j + 1) * 2**level - 1
                step = 1 << level
                rows = slice((first + 1) * step - 1 - start, None, step)
                blobs[rows] = list(map(bytes.__add__, blobs[rows], nodes))
        self._hashes[kept:] = new_peaks[::-1]
        self.size = start + len(blobs)
        return blobs

    def copy(self) -> CompactRange:
        """An independent copy (to roll back a failed append)."""
        return CompactRange(self.size, self._hashes)

    def root(self) -> bytes:
        """``MTH(D[0:n])`` for the current size ``n``."""
        return fold(self._hashes) if self._hashes else EMPTY_ROOT
