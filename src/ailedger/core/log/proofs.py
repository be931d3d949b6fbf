"""Proof objects a log hands out: self-describing, JSON-serialisable, verifiable alone."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, overload

from ailedger.core.log import merkle
from ailedger.errors import InvalidInputError


class LeafRef(NamedTuple):
    """Where a record landed: its index and RFC 9162 leaf hash."""

    index: int
    leaf_hash: bytes


class LeafRefs(Sequence[LeafRef]):
    """The refs of records appended together, made when read: a batch of 10,000 costs
    no 10,000 objects on the append path that most callers never look at."""

    __slots__ = ("_hashes", "start")

    def __init__(self, start: int, leaf_hashes: list[bytes]) -> None:
        self.start = start
        self._hashes = leaf_hashes

    def __len__(self) -> int:
        return len(self._hashes)

    @overload
    def __getitem__(self, i: int) -> LeafRef: ...
    @overload
    def __getitem__(self, i: slice) -> list[LeafRef]: ...
    def __getitem__(self, i: int | slice) -> LeafRef | list[LeafRef]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"leaf ref {i} out of range (have {len(self)})")
        return LeafRef(self.start + i, self._hashes[i])

    def __iter__(self) -> Iterator[LeafRef]:
        return map(LeafRef, itertools.count(self.start), self._hashes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"LeafRefs(start={self.start}, count={len(self)})"


@dataclass(frozen=True)
class InclusionProof:
    """``PATH(leaf_index, D[tree_size])``: the record at ``leaf_index`` is in that tree."""

    leaf_index: int
    tree_size: int
    hashes: tuple[bytes, ...]

    def verify(self, leaf_hash: bytes, root: bytes) -> None:
        """Raise :class:`~ailedger.core.log.merkle.InclusionProofError` unless it proves it."""
        merkle.verify_inclusion(self.leaf_index, self.tree_size, leaf_hash, self.hashes, root)

    def to_dict(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "hashes": ["0x" + h.hex() for h in self.hashes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InclusionProof:
        return cls(_int(data, "leaf_index"), _int(data, "tree_size"), _hashes(data, "hashes"))


@dataclass(frozen=True)
class ConsistencyProof:
    """``PROOF(old_size, D[new_size])``: the older tree is a prefix of the newer one."""

    old_size: int
    new_size: int
    hashes: tuple[bytes, ...]

    def verify(self, old_root: bytes, new_root: bytes) -> None:
        """Raise :class:`~ailedger.core.log.merkle.ConsistencyProofError` unless it proves it."""
        merkle.verify_consistency(self.old_size, self.new_size, old_root, new_root, self.hashes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "hashes": ["0x" + h.hex() for h in self.hashes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConsistencyProof:
        return cls(_int(data, "old_size"), _int(data, "new_size"), _hashes(data, "hashes"))


def _int(data: dict[str, Any], name: str) -> int:
    value = data.get(name) if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(
            f"{name}: expected a non-negative integer, got {value!r}", field=name
        )
    return value


def _hashes(data: dict[str, Any], name: str) -> tuple[bytes, ...]:
    values = data.get(name) if isinstance(data, dict) else None
    if not isinstance(values, list):
        raise InvalidInputError(
            f"{name}: expected a list of hex hashes, got {values!r}", field=name
        )
    hashes = []
    for i, value in enumerate(values):
        try:
            hashes.append(bytes.fromhex(value.removeprefix("0x")))
        except (AttributeError, ValueError):
            raise InvalidInputError(
                f"{name}[{i}]: expected 0x-prefixed hex, got {value!r}", field=name
            ) from None
    return tuple(hashes)
