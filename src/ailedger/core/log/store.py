"""The record store interface: append-only rows of records, tree nodes and heads.

Row ``i`` holds record ``i`` and the node blob :mod:`ailedger.core.log.nodes` lays
out for it. There is no method that updates or deletes anything, and the SQL
backends add triggers so that the database itself refuses to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager

from ailedger.core.log.heads import Anchor, SignedTreeHead


class LogStore(ABC):
    """Durable storage for one log. Every write is committed before it returns."""

    @abstractmethod
    def size(self) -> int:
        """Number of records stored (they are numbered ``0 .. size - 1``), read afresh:
        other writers may have appended."""

    @abstractmethod
    def writing(self) -> AbstractContextManager[int]:
        """Hold the log's write lock, across processes, for one transaction.

        Yields the current size as stored (another writer may have appended since
        :meth:`size` was read); every write inside the block commits when it ends, or
        none does. Nested blocks join the outer one.
        """

    @abstractmethod
    def append(self, start: int, entries: Sequence[bytes], node_blobs: Sequence[bytes]) -> None:
        """Store ``entries`` as records ``start, start + 1, ...`` in one transaction.

        Raises :class:`~ailedger.errors.IntegrityError` when ``start`` is not the
        current size (another writer got there first); nothing is stored then. To
        append after whatever the others wrote, call it inside :meth:`writing`.
        """

    @abstractmethod
    def entries(self, start: int, end: int) -> list[bytes]:
        """Records ``start .. end - 1`` (those that exist)."""

    @abstractmethod
    def node_blobs(self, rows: Collection[int]) -> dict[int, bytes]:
        """The node blob of each row in ``rows`` that exists."""

    @abstractmethod
    def scan(self, start: int = 0, chunk: int = 10_000) -> Iterator[tuple[int, bytes, bytes]]:
        """Every row ``(index, entry, node_blob)`` from ``start`` on, in index order."""

    @abstractmethod
    def add_head(self, head: SignedTreeHead) -> None:
        """Store a signed tree head (at most one per tree size)."""

    @abstractmethod
    def heads(self) -> list[SignedTreeHead]:
        """All stored signed heads, by tree size."""

    @abstractmethod
    def add_anchor(self, anchor: Anchor) -> None:
        """Record that the head of ``anchor.tree_size`` is anchored on chain."""

    @abstractmethod
    def anchors(self) -> list[Anchor]:
        """All recorded anchors, by tree size."""

    @abstractmethod
    def get_meta(self, key: str) -> str | None:
        """A setting fixed when the log was created (``None`` if unset)."""

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None:
        """Fix a setting; it can be set once and never changed."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""
