"""``ServiceHost``: serve one registered model, paid call by paid call or batch by batch.

For each call (or batch of N calls) the host, in this order:

1. checks the input(s) against the model (a bad input costs nothing; one bad item
   rejects the whole batch);
2. checks the voucher off chain: a channel of *this* model, not reclaimed, not
   about to expire, signed by the channel's consumer, a nonce above the last
   accepted one, a cumulative amount at least N prices above it and within the
   deposit;
3. runs the model (on a batch, once over all N rows) and signs a receipt (salted
   request and response hashes; for a batch, their Merkle root);
4. stores the voucher (compare-and-set, see :class:`VoucherStore`);
5. appends the call record(s), which carry the voucher, to the transparency log in
   one transaction, durably (fsync);
6. answers with the output(s), the receipt and the records' log position.

A crash before step 5 completes loses nothing the consumer was answered for; after
it the voucher is on disk twice: in the store and in the log, from which
:meth:`ServiceHost.recover` restores the store if a power loss took its last
commits (the store need not fsync: one fsync per call, not two). Calls on one
channel are serialised (nonces are a sequence); different channels proceed
independently. :meth:`claim_due` (run periodically) and :meth:`claim_all` (at
shutdown) turn stored vouchers into ALT on chain.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount

from ailedger.core.log import TransparencyLog
from ailedger.errors import (
    AILedgerError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
)
from ailedger.services.batches import (
    BATCH_RECORD_KIND,
    MAX_BATCH,
    batch_items,
    batch_records,
    decode_batch_lines,
)
from ailedger.services.channels import ChannelsClient, ChannelState, ClaimResult
from ailedger.services.errors import (
    ModelDeprecatedError,
    NotYetAnchoredError,
    PaymentRequiredError,
)
from ailedger.services.models import ServedModel
from ailedger.services.receipts import (
    RECORD_KIND,
    SALT_BYTES,
    BatchReceipt,
    CallReceipt,
    ReceiptSigner,
    call_record,
    commit,
)
from ailedger.services.registry import ModelListing, ModelRegistryClient
from ailedger.services.store import AcceptedVoucher, ClaimRecord, VoucherStore
from ailedger.services.vouchers import Voucher

__all__ = ["ClaimPolicy", "PaidBatchResponse", "PaidResponse", "ServiceHost"]

_log = logging.getLogger(__name__)

# Calls on one channel are serialised by one of this many locks (see ``_channel_lock``).
CHANNEL_LOCK_STRIPES = 64


@dataclass(frozen=True)
class ClaimPolicy:
    """When the host claims: before a channel gets close to expiry, or once enough is owed.

    ``expiry_margin`` seconds before expiry the host stops accepting vouchers on a
    channel and claims it, so the consumer can never reclaim what the host accepted.
    """

    expiry_margin: int = 600
    min_unclaimed: int = 10**18
    max_age_seconds: float = 3600.0

    def __post_init__(self) -> None:
        margin = self.expiry_margin
        if isinstance(margin, bool) or not isinstance(margin, int) or margin <= 0:
            # With no margin a consumer could reclaim at expiry what was just accepted.
            raise InvalidInputError(
                f"expiry_margin: expected a positive number of seconds, got {margin!r}",
                field="expiry_margin",
            )


@dataclass(frozen=True)
class PaidResponse:
    """What a paid call returns."""

    output: dict[str, Any]
    receipt: CallReceipt
    log_index: int
    leaf_hash: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "receipt": self.receipt.to_dict(),
            "log_index": self.log_index,
            "leaf_hash": "0x" + self.leaf_hash.hex(),
        }


@dataclass(frozen=True)
class PaidBatchResponse:
    """What a paid batch returns: outputs in input order, one receipt, N consecutive records."""

    outputs: list[dict[str, Any]]
    receipt: BatchReceipt
    log_index: int  # of the first item's record; item i is at log_index + i
    leaf_hashes: list[bytes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "outputs": self.outputs,
            "receipt": self.receipt.to_dict(),
            "log_index": self.log_index,
            "leaf_hashes": ["0x" + leaf.hex() for leaf in self.leaf_hashes],
        }


class ServiceHost:
    """Serves ``model`` as the registered ``listing``, signing receipts as ``account``.

    Opening a host replays into ``store`` any log records it does not reflect yet
    (:meth:`recover`). ``max_batch`` bounds the inputs of one batch.
    """

    def __init__(
        self,
        *,
        model: ServedModel,
        listing: ModelListing,
        account: LocalAccount,
        registry: ModelRegistryClient,
        channels: ChannelsClient,
        store: VoucherStore,
        log: TransparencyLog,
        policy: ClaimPolicy | None = None,
        clock: Callable[[], float] = time.time,
        max_batch: int = MAX_BATCH,
        upkeep_interval: float = 30.0,
    ) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise InvalidInputError(
                f"max_batch: expected a positive integer, got {max_batch!r}", field="max_batch"
            )
        if account.address != listing.owner:
            raise UnauthorizedError(
                f"account: {account.address} does not own model {listing.name} "
                f"(owner {listing.owner})",
                field="account",
            )
        logged_to = log.anchorer.log_id if log.anchorer is not None else None
        if logged_to != listing.log_id:
            raise IntegrityError(
                f"log: the registry binds {listing.name} to log 0x{listing.log_id.hex()}, "
                f"this host would record its calls in "
                f"{'an unanchored log' if logged_to is None else '0x' + logged_to.hex()}",
                field="log",
            )
        if model.model_hash != listing.model_hash:
            raise InvalidInputError(
                f"model: hash 0x{model.model_hash.hex()} is not the registered "
                f"0x{listing.model_hash.hex()}",
                field="model",
            )
        self.model = model
        self.listing = listing
        self.account = account
        self.registry = registry
        self.channels = channels
        self.store = store
        self.log = log
        self.policy = policy or ClaimPolicy()
        self.max_batch = max_batch
        # Seconds between upkeep rounds (``HostLoop``): a due batch is anchored at most
        # this late, which the "anchored by" time of an unanchored record allows for.
        self.upkeep_interval = upkeep_interval
        self._clock = clock
        chain_id = channels.chain.chain_id
        self.receipts = ReceiptSigner(chain_id, registry.address)
        self._known: dict[int, ChannelState] = {}
        # Striped: a fixed set of locks, channel i always taking the same one, so that
        # requests naming any number of (made-up) channels cannot grow the table.
        self._channel_locks = tuple(threading.Lock() for _ in range(CHANNEL_LOCK_STRIPES))
        self._claim_lock = threading.Lock()
        self._head_time = 0.0
        self._head_read_at = float("-inf")
        self.recover()

    # -- calls -------------------------------------------------------------------------------

    def handle(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One paid call as JSON in, JSON out (what the HTTP endpoint and local clients use).

        ``request`` is ``{"input": {...}, "salt": "0x<32 bytes>", "voucher": {...}}``.
        """
        if not isinstance(request, Mapping):
            raise InvalidInputError("request: expected a JSON object", field="request")
        salt = _salt(request.get("salt"))
        if request.get("voucher") is None:
            raise PaymentRequiredError(
                f"voucher: missing; a call to {self.listing.name} costs {self.listing.price} "
                "ALT wei, paid by a voucher on a channel of this model",
                field="voucher",
            )
        voucher = Voucher.from_dict(request["voucher"])
        return self.call(request.get("input"), salt, voucher).to_dict()

    def call(self, inputs: Any, salt: bytes, voucher: Voucher) -> PaidResponse:
        """Check ``voucher`` pays for one call, run the model, record the call, sign a receipt."""
        self._check_listed()
        row = self.model.validate(inputs) if isinstance(inputs, Mapping) else None
        if row is None:
            raise InvalidInputError(
                f"input: expected a JSON object, got {type(inputs).__name__}", field="input"
            )
        with self._channel_lock(voucher.channel_id):
            price = self.listing.price
            self._check_voucher(voucher, price)
            output = self.model.score(row)
            receipt = self.receipts.sign(
                self.account,
                CallReceipt(
                    model_id=self.listing.model_id,
                    model_hash=self.listing.model_hash,
                    log_id=self.listing.log_id,
                    channel_id=voucher.channel_id,
                    nonce=voucher.nonce,
                    amount=voucher.amount,
                    price=price,
                    request_hash=commit(salt, inputs),
                    response_hash=commit(salt, output),
                    timestamp=int(self._clock() * 1000),
                    service=self.account.address,
                ),
            )
            # The record first, then the voucher it carries: a voucher in the store is one
            # the host may claim, so it must never be there without its logged call.
            leaf = self.log.append(call_record(receipt, voucher))  # durable before we answer
            self.store.accept(voucher, price=price)
        return PaidResponse(output, receipt, leaf.index, leaf.leaf_hash)

    def handle_batch(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """A paid batch as JSON in, JSON out.

        ``request`` is ``{"inputs": [{...}, ...], "salt": "0x<32 bytes>", "voucher": {...}}``.
        """
        if not isinstance(request, Mapping):
            raise InvalidInputError("request: expected a JSON object", field="request")
        return self._handle_batch(request, request.get("inputs"), None)

    def handle_batch_lines(self, body: bytes) -> dict[str, Any]:
        """A paid batch sent as lines (:func:`~ailedger.services.batches.encode_batch_lines`):
        ``{"salt": ..., "voucher": ...}``, then each input's canonical JSON on its own line.

        Each request hash is taken over the input's bytes as received, not over the
        parsed input encoded again (why that binds as tightly: see
        :func:`~ailedger.services.batches.decode_batch_lines`).
        """
        envelope, inputs, encoded = decode_batch_lines(body, max_inputs=self.max_batch)
        return self._handle_batch(envelope, inputs, encoded)

    def _handle_batch(
        self, request: Mapping[str, Any], inputs: Any, encoded_inputs: list[bytes] | None
    ) -> dict[str, Any]:
        salt = _salt(request.get("salt"))
        if request.get("voucher") is None:
            raise PaymentRequiredError(
                f"voucher: missing; each call to {self.listing.name} costs "
                f"{self.listing.price} ALT wei, a batch of N calls N times that, paid by a "
                "voucher on a channel of this model",
                field="voucher",
            )
        voucher = Voucher.from_dict(request["voucher"])
        return self.call_batch(inputs, salt, voucher, encoded_inputs=encoded_inputs).to_dict()

    def call_batch(
        self,
        inputs: Any,
        salt: bytes,
        voucher: Voucher,
        *,
        encoded_inputs: list[bytes] | None = None,
    ) -> PaidBatchResponse:
        """Check ``voucher`` pays for ``len(inputs)`` calls, run them, record and receipt them.

        All or nothing: a bad item, a voucher short of N prices or any other fault
        rejects the whole batch before anything is stored. ``encoded_inputs``, if
        given, are the bytes each input was parsed from; the request hashes commit to
        them (by default, to each input's canonical JSON).
        """
        self._check_listed()
        rows = self._validate_batch(inputs)
        count = len(rows)
        with self._channel_lock(voucher.channel_id):
            price = self.listing.price
            self._check_voucher(voucher, price, count)
            outputs = self.model.score_many(rows)
            root, items = batch_items(salt, inputs, outputs, encoded_inputs=encoded_inputs)
            receipt = self.receipts.sign(
                self.account,
                BatchReceipt(
                    model_id=self.listing.model_id,
                    model_hash=self.listing.model_hash,
                    log_id=self.listing.log_id,
                    channel_id=voucher.channel_id,
                    nonce=voucher.nonce,
                    amount=voucher.amount,
                    price=price,
                    count=count,
                    items_root=root,
                    timestamp=int(self._clock() * 1000),
                    service=self.account.address,
                ),
            )
            records = batch_records(receipt, voucher, items)
            refs = self.log.append_many(records)  # one transaction, durable before we answer
            self.store.accept(voucher, price=count * price, calls=count)  # after: see call()
        return PaidBatchResponse(outputs, receipt, refs[0].index, [ref.leaf_hash for ref in refs])

    def _check_listed(self) -> None:
        if self.listing.deprecated:
            raise ModelDeprecatedError(
                f"model {self.listing.name} is deprecated by its owner; it takes no new calls",
                field="model",
            )

    def _validate_batch(self, inputs: Any) -> list[Any]:
        if not isinstance(inputs, list | tuple):
            raise InvalidInputError(
                f"inputs: expected a JSON array of input objects, got {type(inputs).__name__}",
                field="inputs",
            )
        if not inputs:
            raise InvalidInputError(
                f"inputs: empty batch; expected 1 to {self.max_batch} input objects",
                field="inputs",
            )
        if len(inputs) > self.max_batch:
            raise InvalidInputError(
                f"inputs: batch of {len(inputs)} inputs is above this host's maximum of "
                f"{self.max_batch}; split it",
                field="inputs",
            )
        rows = []
        for index, item in enumerate(inputs):
            where = f"inputs[{index}]"
            if not isinstance(item, Mapping):
                raise InvalidInputError(
                    f"{where}: expected a JSON object, got {type(item).__name__}", field=where
                )
            try:
                rows.append(self.model.validate(item))
            except InvalidInputError as error:
                field = error.field or "input"
                raise InvalidInputError(
                    f"{where}: {error.message}",
                    field=where + field.removeprefix("input"),
                ) from None
        return rows

    def _check_voucher(self, voucher: Voucher, price: int, calls: int = 1) -> None:
        channel_id = voucher.channel_id
        channel = self._channel(channel_id)
        if channel.model_id != self.listing.model_id:
            raise PaymentRequiredError(
                f"voucher: channel {channel_id} pays model 0x{channel.model_id.hex()}, not "
                f"{self.listing.name} (0x{self.listing.model_id.hex()})",
                field="voucher.channel_id",
            )
        latest = self.store.latest(channel_id)
        last_nonce = latest.voucher.nonce if latest else channel.nonce
        last_amount = latest.voucher.amount if latest else channel.claimed
        if voucher.nonce <= last_nonce:
            raise PaymentRequiredError(
                f"voucher: stale nonce on channel {channel_id}: expected above {last_nonce}, "
                f"got {voucher.nonce}",
                field="voucher.nonce",
            )
        due = calls * price
        if voucher.amount < last_amount + due:
            cost = f"{price}" if calls == 1 else f"{calls} x {price}"
            raise PaymentRequiredError(
                f"voucher: amount below price on channel {channel_id}: expected at least "
                f"{last_amount} + {cost} = {last_amount + due}, got {voucher.amount}",
                field="voucher.amount",
            )
        if voucher.amount > channel.deposit or self._expires_soon(channel):
            channel = self._channel(channel_id, refresh=True)  # topped up or extended since?
        self.channels.check_claimable(
            voucher,
            channel,
            claimant=self.account.address,
            now=self._now(),
            expiry_margin=self.policy.expiry_margin,
        )

    def _expires_soon(self, channel: ChannelState) -> bool:
        return channel.expiry - self._now() < self.policy.expiry_margin

    def _now(self) -> float:
        """The later of our clock and the chain's, which runs ahead when blocks come faster
        than one a second (the embedded chain); the chain's is re-read at most once a second."""
        now = self._clock()
        if now - self._head_read_at >= 1.0:
            chain = self.channels.chain
            self._head_time = chain.get_block(chain.block_number()).timestamp
            self._head_read_at = now
        return max(now, self._head_time + (now - self._head_read_at))

    def _channel(self, channel_id: int, *, refresh: bool = False) -> ChannelState:
        cached = self._known.get(channel_id)
        if cached is None or refresh:
            try:
                cached = self.channels.get(channel_id)
            except NotFoundError:
                raise PaymentRequiredError(
                    f"voucher: channel {channel_id} does not exist", field="voucher.channel_id"
                ) from None
            if cached.model_id == self.listing.model_id:  # only ours: bounded by real deposits
                self._known[channel_id] = cached
        return cached

    def _channel_lock(self, channel_id: int) -> threading.Lock:
        return self._channel_locks[channel_id % CHANNEL_LOCK_STRIPES]

    # -- reading -----------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """The listing, the model card and the address receipts are signed by."""
        return {
            "listing": self.listing.to_dict(),
            "card": self.model.card,
            "service": self.account.address,
            "channels_contract": self.channels.address,
            "log_size": self.log.size,
        }

    def channel_status(self, channel_id: int) -> dict[str, Any]:
        """The channel on chain and the latest voucher this host accepted on it."""
        channel = self._channel(channel_id, refresh=True)
        latest = self.store.latest(channel_id)
        return {
            "channel": channel.to_dict(),
            "latest_voucher": latest.voucher.to_dict() if latest else None,
            "calls": latest.calls if latest else 0,
        }

    def proof(self, log_index: int) -> dict[str, Any]:
        """The record at ``log_index`` with its inclusion proof in an anchored, signed head.

        Never sends a transaction: anyone may ask (``GET /proofs/<i>``), and anchoring on
        demand would let any caller spend the operator's gas. A record whose batch is
        not yet anchored raises :class:`NotYetAnchoredError` naming when the batch
        policy anchors it (:meth:`upkeep_log` does, in the host's upkeep loop; the
        operator may anchor at once with :meth:`anchor_now`).
        """
        if isinstance(log_index, bool) or not isinstance(log_index, int) or log_index < 0:
            raise InvalidInputError(
                f"log_index: expected a non-negative integer, got {log_index!r}",
                field="log_index",
            )
        size = self.log.size
        if log_index >= size:
            raise NotFoundError(
                f"log_index: record {log_index} does not exist (log size {size})",
                field="log_index",
            )
        anchors = self.log.anchors()
        anchor = anchors[-1] if anchors else None
        if anchor is None or anchor.tree_size <= log_index:
            raise NotYetAnchoredError(
                f"log_index: record {log_index} is not yet anchored; anchored by "
                f"{self._anchored_by(log_index)} (batch policy: every "
                f"{self.log.policy.max_records} records or {self.log.policy.max_seconds:g} s)",
                field="log_index",
            )
        head = next(h for h in reversed(self.log.heads()) if h.head.tree_size == anchor.tree_size)
        return {
            "record": self.log.record(log_index).decode(),
            "log_index": log_index,
            "inclusion_proof": self.log.inclusion_proof(log_index, anchor.tree_size).to_dict(),
            "tree_head": head.to_dict(),
            "anchor": anchor.to_dict(),
        }

    def _anchored_by(self, log_index: int) -> str:
        """When the batch holding ``log_index`` closes at the latest (UTC, ISO 8601):
        its age limit counted from the record's receipt time (the batch opened no later)."""
        try:
            stamped_ms = int(json.loads(self.log.record(log_index))["receipt"]["timestamp"])
        except (ValueError, KeyError, TypeError):
            stamped_ms = int(self._clock() * 1000)
        due = stamped_ms / 1000 + self.log.policy.max_seconds + self.upkeep_interval
        return datetime.fromtimestamp(due, UTC).isoformat(timespec="seconds")

    def upkeep_log(self) -> None:
        """Close the log's batch if the policy says it is due, and anchor every signed
        head not yet on chain (one that failed to anchor earlier is retried here)."""
        self.log.poll()
        self.log.anchor_pending()

    def anchor_now(self) -> None:
        """The operator's own path (in process, never an HTTP route): sign and anchor
        every call logged so far, at the operator's expense, now."""
        self.log.close_batch()

    # -- durability --------------------------------------------------------------------------

    def recover(self) -> list[AcceptedVoucher]:
        """Restore into the voucher store the vouchers of log records it does not reflect.

        Runs when the host opens. Normally a no-op (everything past the checkpoint is
        stored already); after a power loss took the store's last commits, the log
        (fsynced on every append) still has each answered call and its voucher.
        """
        size = self.log.size
        start = min(self.store.checkpoint(), size)
        restored = self.store.recover(self._logged_vouchers(start, size), size)
        for accepted in restored:
            _log.warning(
                "restored voucher nonce %d of channel %d from the log",
                accepted.voucher.nonce,
                accepted.voucher.channel_id,
            )
        return restored

    def checkpoint(self) -> int:
        """Mark every record in the log as reflected in the store (bounds :meth:`recover`).

        Holds every channel lock: a call between logging its record and storing its
        voucher must not fall below the checkpoint before its voucher is stored.
        """
        with contextlib.ExitStack() as held:
            for lock in self._channel_locks:
                held.enter_context(lock)
            size = self.log.size
            self.store.set_checkpoint(size)
        return size

    def _logged_vouchers(self, start: int, end: int, chunk: int = 1000) -> Iterator[Voucher]:
        for first in range(start, end, chunk):
            for offset, entry in enumerate(self.log.store.entries(first, min(first + chunk, end))):
                try:
                    record = json.loads(entry)
                    kind = record["kind"]
                    receipt = record["receipt"]
                    voucher = Voucher(
                        int(receipt["channel_id"]),
                        int(receipt["nonce"]),
                        int(receipt["amount"]),
                        bytes.fromhex(record["voucher_signature"].removeprefix("0x")),
                    )
                except (ValueError, KeyError, TypeError, AttributeError):
                    kind = None
                if kind not in (RECORD_KIND, BATCH_RECORD_KIND):
                    _log.warning("log record %d is not a call record; skipped", first + offset)
                    continue
                yield voucher

    # -- claiming ----------------------------------------------------------------------------

    def unclaimed(self) -> list[tuple[Voucher, int]]:
        """Stored vouchers worth claiming, with what each would credit."""
        due = []
        for accepted in self.store.all():
            channel = self._channel(accepted.voucher.channel_id, refresh=True)
            if channel.reclaimed or accepted.voucher.nonce <= channel.nonce:
                continue
            due.append((accepted.voucher, accepted.voucher.amount - channel.claimed))
        return due

    def claim_all(self) -> list[ClaimResult]:
        """Claim the latest voucher of every channel with something unclaimed."""
        return self._claim([voucher for voucher, _ in self.unclaimed()])

    def claim_due(self) -> list[ClaimResult]:
        """Claim the channels the policy says are due (near expiry, enough owed, or old)."""
        now_ms = self._clock() * 1000
        due = []
        for voucher, owed in self.unclaimed():
            channel = self._known[voucher.channel_id]
            latest = self.store.latest(voucher.channel_id)
            age = (now_ms - latest.updated_ms) / 1000 if latest else 0.0
            if (
                self._expires_soon(channel)
                or owed >= self.policy.min_unclaimed
                or age >= self.policy.max_age_seconds
            ):
                due.append(voucher)
        return self._claim(due)

    def _claim(self, vouchers: list[Voucher]) -> list[ClaimResult]:
        results = []
        with self._claim_lock:
            for voucher in vouchers:
                try:
                    result = self.channels.claim(self.account, voucher)
                except AILedgerError as error:
                    # Keep going: one bad channel (say, reclaimed meanwhile) must not
                    # block the others. The voucher stays stored for a later attempt.
                    _log.warning("claim of channel %d failed: %s", voucher.channel_id, error)
                    continue
                self.store.record_claim(
                    ClaimRecord(
                        result.channel_id,
                        result.nonce,
                        result.amount,
                        result.paid,
                        result.receipt.tx_hash,
                        result.receipt.block_number,
                        result.receipt.gas_used,
                        int(self._clock() * 1000),
                    )
                )
                self._known.pop(voucher.channel_id, None)
                results.append(result)
        return results

    def refresh_listing(self) -> ModelListing:
        """Re-read the listing (price, deprecation) from the registry."""
        self.listing = self.registry.get(self.listing.model_id)
        return self.listing

    def close(self) -> None:
        """Checkpoint, then release the voucher store and the log (claim first: see
        :meth:`claim_all`)."""
        try:
            self.checkpoint()
        finally:
            self.store.close()
            self.log.close()


def _salt(value: object) -> bytes:
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        raw = b""
    if len(raw) != SALT_BYTES:
        raise InvalidInputError(
            f"salt: expected 0x-prefixed hex of {SALT_BYTES} random bytes, got {value!r:.80}",
            field="salt",
        )
    return raw
