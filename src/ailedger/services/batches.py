"""Batched calls: N inputs paid by one voucher, answered by one receipt, logged as N records.

A consumer sends N inputs, one 32-byte salt and one voucher whose cumulative amount
rises by N times the price. Item ``i`` gets its own salt ``sha256(salt || i)``
(8-byte big-endian ``i``), so its request and response hashes hide its values as a
single call's do, and revealing one item's salt reveals nothing of the others.

The receipt (:class:`~ailedger.services.receipts.BatchReceipt`) commits to
``count = N`` and ``items_root``: the RFC 9162 Merkle tree hash over the N entries
``request_hash_i || response_hash_i``. Each item becomes one log record holding the
signed receipt, the item's hashes and its audit path in that tree, so any one call
of a batch is proven on its own: the path leads to the signed root, and the
record's log inclusion proof leads to an anchored tree head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ailedger.core.identity import canonical_json
from ailedger.core.log import merkle
from ailedger.errors import IntegrityError, InvalidInputError
from ailedger.http import json_depth
from ailedger.services.receipts import SALT_BYTES, BatchReceipt, _hex, commit
from ailedger.services.vouchers import Voucher

__all__ = [
    "BATCH_LINES_MEDIA_TYPE",
    "BATCH_RECORD_KIND",
    "MAX_BATCH",
    "BatchItem",
    "ItemTree",
    "batch_items",
    "batch_records",
    "decode_batch_lines",
    "encode_batch_lines",
    "item_salt",
    "verify_item",
]

BATCH_RECORD_KIND = "ailedger.services.batch_call/v1"
MAX_BATCH = 1000  # inputs per batch a host takes by default
BATCH_LINES_MEDIA_TYPE = "application/x-ndjson"

_decode_json = json.JSONDecoder().raw_decode
MAX_LINE_DEPTH = 32  # an input object or the envelope nests a few levels


def item_salt(salt: bytes, index: int) -> bytes:
    """The salt of item ``index`` of a batch salted with ``salt``."""
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise InvalidInputError(
            f"salt: expected {SALT_BYTES} bytes, got {salt!r:.40}", field="salt"
        )
    return hashlib.sha256(salt + index.to_bytes(8, "big")).digest()


@dataclass(frozen=True)
class BatchItem:
    """One call of a batch: its position, its hashes, and its audit path to ``items_root``."""

    index: int
    request_hash: bytes
    response_hash: bytes
    path: tuple[bytes, ...]

    @property
    def entry(self) -> bytes:
        """The item's entry in the batch's Merkle tree."""
        return self.request_hash + self.response_hash

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "request_hash": "0x" + self.request_hash.hex(),
            "response_hash": "0x" + self.response_hash.hex(),
            "path": ["0x" + node.hex() for node in self.path],
        }

    @classmethod
    def from_dict(cls, data: object) -> BatchItem:
        """Parse an item; a malformed one raises ``InvalidInputError`` naming the field."""
        if not isinstance(data, dict):
            raise InvalidInputError("item: expected an object", field="item")
        index = data.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InvalidInputError(
                f"item.index: expected a non-negative integer, got {index!r}", field="item.index"
            )
        path = data.get("path")
        if not isinstance(path, list):
            raise InvalidInputError(
                f"item.path: expected a list of hashes, got {type(path).__name__}",
                field="item.path",
            )
        return cls(
            index,
            _hex(data.get("request_hash"), "item.request_hash", 32),
            _hex(data.get("response_hash"), "item.response_hash", 32),
            tuple(_hex(node, f"item.path[{i}]", 32) for i, node in enumerate(path)),
        )


class ItemTree:
    """The RFC 9162 tree over a batch's entries, with every subtree hash computed once.

    :func:`merkle.inclusion_proof` asks for subtree hashes by range; they are
    memoised here so that all N audit paths together cost O(N) hashes.
    """

    def __init__(self, entries: Sequence[bytes]) -> None:
        if not entries:
            raise InvalidInputError("entries: a batch has at least one item", field="entries")
        self._entries = entries
        self._hashes: dict[tuple[int, int], bytes] = {}
        self.size = len(entries)
        self.root = self.subtree_hash(0, self.size)

    def subtree_hash(self, start: int, end: int) -> bytes:
        """``MTH(D[start:end])``."""
        cached = self._hashes.get((start, end))
        if cached is None:
            if end - start == 1:
                cached = merkle.hash_leaf(self._entries[start])
            else:
                middle = start + merkle.split(end - start)
                cached = merkle.hash_children(
                    self.subtree_hash(start, middle), self.subtree_hash(middle, end)
                )
            self._hashes[(start, end)] = cached
        return cached

    def path(self, index: int) -> tuple[bytes, ...]:
        """``PATH(index, D[n])``: the audit path of entry ``index``."""
        return tuple(merkle.inclusion_proof(index, self.size, self.subtree_hash))

    def paths(self) -> list[tuple[bytes, ...]]:
        """Every entry's audit path, in entry order: ``[self.path(i) for i in range(n)]``.

        One walk down the tree, appending each subtree's sibling hash to the paths
        below it (leaf level first, as RFC 9162 orders them): no range arithmetic or
        lookups per node of each path, which dominate when all N are wanted.
        """
        paths: list[list[bytes]] = [[] for _ in range(self.size)]
        pending = [(0, self.size)]
        while pending:
            start, end = pending.pop()
            if end - start < 2:
                continue
            middle = start + merkle.split(end - start)
            left, right = self.subtree_hash(start, middle), self.subtree_hash(middle, end)
            # The walk goes top-down but paths list leaf level first: each path is
            # collected root end first and reversed at the end.
            for index in range(start, middle):
                paths[index].append(right)
            for index in range(middle, end):
                paths[index].append(left)
            pending.append((start, middle))
            pending.append((middle, end))
        return [tuple(reversed(path)) for path in paths]


def batch_items(
    salt: bytes,
    inputs: Sequence[object],
    outputs: Sequence[object],
    *,
    encoded_inputs: Sequence[bytes] | None = None,
) -> tuple[bytes, list[BatchItem]]:
    """The Merkle root and the items of a batch of ``inputs`` answered with ``outputs``.

    ``encoded_inputs``, if given, must be ``[canonical_json(x) for x in inputs]``
    (a caller that has them already saves encoding them again).
    """
    if len(inputs) != len(outputs):
        raise InvalidInputError(
            f"outputs: expected {len(inputs)} (one per input), got {len(outputs)}",
            field="outputs",
        )
    if encoded_inputs is None:
        encoded_inputs = [canonical_json(inputs_i) for inputs_i in inputs]
    hashes = []
    for index, (encoded_i, output_i) in enumerate(zip(encoded_inputs, outputs, strict=True)):
        salt_i = item_salt(salt, index)
        request_hash = hashlib.sha256(salt_i + encoded_i).digest()  # = commit(salt_i, input)
        hashes.append((request_hash, commit(salt_i, output_i)))
    tree = ItemTree([request + response for request, response in hashes])
    items = [
        BatchItem(index, request, response, path)
        for index, ((request, response), path) in enumerate(zip(hashes, tree.paths(), strict=True))
    ]
    return tree.root, items


def encode_batch_lines(envelope: dict[str, Any], encoded_inputs: Sequence[bytes]) -> bytes:
    """A batch request as lines: ``envelope`` (salt, voucher) as JSON, then one input a line.

    Each input line is the input's canonical JSON, the very bytes its request hash
    commits to, so the host hashes what it received instead of encoding every input
    again (see :func:`decode_batch_lines`). Canonical JSON never holds a raw newline
    (control characters in strings are escaped, and it has no whitespace), so lines
    split exactly.
    """
    head = json.dumps(envelope, separators=(",", ":")).encode()  # no raw newline either
    return b"\n".join([head, *encoded_inputs])


def decode_batch_lines(
    body: bytes, *, max_inputs: int = MAX_BATCH
) -> tuple[dict[str, Any], list[Any], list[bytes]]:
    """The envelope, the inputs and each input's exact bytes of an :func:`encode_batch_lines`
    body. A line that is not exactly one JSON object raises ``InvalidInputError`` naming
    it; more than ``max_inputs`` inputs are refused before any is parsed.

    The host hashes each input's received bytes rather than ``canonical_json`` of the
    parsed value. That binds the receipt as tightly: it commits to exactly the bytes
    the model's input was parsed from, and the client hashes the same bytes it sent.
    Every opening of a request hash (the client's check, anyone shown an input and its
    salt) hashes ``canonical_json(value)``; canonical JSON is one-to-one, so a hash
    opens to a value only when the bytes were that value's canonical JSON, which
    parses back to it alone. Bytes that are not canonical (duplicate keys, spacing)
    get a receipt that opens to no value at all: the sender's loss, never a second
    reading of what the model answered.
    """
    lines = body.split(b"\n")  # no final newline: an empty last line is an empty input
    envelope = _line_object(lines[0], "request")
    encoded = lines[1:]
    if len(encoded) > max_inputs:
        raise InvalidInputError(
            f"inputs: batch of {len(encoded)} inputs is above this host's maximum of "
            f"{max_inputs}; split it",
            field="inputs",
        )
    inputs = []
    for index, line in enumerate(encoded):
        inputs.append(_line_object(line, f"inputs[{index}]"))
    return envelope, inputs, encoded


def _line_object(line: bytes, where: str) -> Any:
    """The JSON object that is exactly ``line``: no whitespace around it, nothing after."""
    if json_depth(line) > MAX_LINE_DEPTH:
        # Counted before parsing: a deeper line would crash the host (see ailedger.http.json_depth).
        raise InvalidInputError(f"{where}: nested deeper than {MAX_LINE_DEPTH} levels", field=where)
    try:
        text = line.decode()
        value, end = _decode_json(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise InvalidInputError(
            f"{where}: expected one JSON object on its line ({error})", field=where
        ) from None
    if end != len(text) or not isinstance(value, dict):
        raise InvalidInputError(
            f"{where}: expected one JSON object on its line, got {text[:60]!r}", field=where
        )
    return value


def batch_records(
    receipt: BatchReceipt, voucher: Voucher, items: Sequence[BatchItem]
) -> list[bytes]:
    """The log records of a batch, one per item, in item order.

    Record ``i`` is ``canonical_json({"item": item_i, "kind": ..., "receipt": ...,
    "voucher_signature": ...})``. The part after ``item`` is the same for every record,
    so it is encoded once and each record is spliced together; ``"item"`` sorts before
    the other keys, so the bytes are exactly the canonical encoding (tested).
    """
    shared = canonical_json(
        {
            "kind": BATCH_RECORD_KIND,
            "receipt": receipt.to_dict(),
            "voucher_signature": "0x" + voucher.signature.hex(),
        }
    )
    tail = "," + shared[1:].decode()
    return [('{"item":' + _item_json(item) + tail).encode() for item in items]


def _item_json(item: BatchItem) -> str:
    """``canonical_json(item.to_dict())`` spelled out (tested): keys in sorted order, and
    nothing to escape in a non-negative integer and hex strings."""
    path = ",".join(['"0x' + node.hex() + '"' for node in item.path])
    return (
        f'{{"index":{item.index:d},"path":[{path}],'
        f'"request_hash":"0x{item.request_hash.hex()}",'
        f'"response_hash":"0x{item.response_hash.hex()}"}}'
    )


def verify_item(receipt: BatchReceipt, item: BatchItem) -> None:
    """Raise :class:`IntegrityError` unless ``item`` is item ``item.index`` of ``receipt``."""
    if item.index >= receipt.count:
        raise IntegrityError(
            f"item: index {item.index} is outside the batch of {receipt.count}", field="item.index"
        )
    try:
        merkle.verify_inclusion(
            item.index,
            receipt.count,
            merkle.hash_leaf(item.entry),
            list(item.path),
            receipt.items_root,
        )
    except merkle.ProofError as error:
        raise IntegrityError(
            f"item: not in the batch the receipt signs ({error})", field="item.path"
        ) from None
