"""``ServiceClient``: find a model in the registry, pay per call through a channel, keep proof.

Example::

    >>> client = ServiceClient(alice, contracts.registry, contracts.channels)  # doctest: +SKIP
    >>> listing = client.discover("diagnosis")  # doctest: +SKIP
    >>> call = client.call(listing, features)  # doctest: +SKIP
    >>> call.output["diagnosis"], call.receipt.amount  # doctest: +SKIP
    ('benign', 10000000000000000)
    >>> client.prove(call).anchor_block  # doctest: +SKIP
    57

Every response is checked before it is returned: the receipt must be signed by
the model's owner, commit to this request and this response under the call's
salt, name this voucher, and hash to the log leaf the host reported. A host that
alters any of it raises :class:`IntegrityError`.

:meth:`ServiceClient.call_batch` pays N calls with one voucher; its receipt must
commit to exactly these N inputs and outputs (the Merkle root over their hashes)
and each item's log record to the leaf the host reported.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_account.signers.local import LocalAccount

from ailedger.core.identity import canonical_json
from ailedger.core.log import hash_leaf
from ailedger.errors import AILedgerError, IntegrityError, InvalidInputError
from ailedger.services.batches import BatchItem, batch_items, batch_records
from ailedger.services.channels import ChannelsClient, ChannelState
from ailedger.services.errors import (
    AmbiguousModelError,
    NotYetAnchoredError,
    PaymentRequiredError,
)
from ailedger.services.proofs import CallProofReport, verify_call_proof
from ailedger.services.receipts import (
    SALT_BYTES,
    BatchReceipt,
    CallReceipt,
    ReceiptSigner,
    call_record,
    commit,
)
from ailedger.services.records import ChannelRecord, ChannelRef, ConsumerRecords
from ailedger.services.registry import ModelListing, ModelRegistryClient
from ailedger.services.transport import HttpTransport, Transport
from ailedger.services.vouchers import Voucher, VoucherSigner

__all__ = ["PaidBatch", "PaidCall", "ServiceClient"]

DEFAULT_LIFETIME = 7 * 86_400
# A reused channel must stay open at least this long (hosts refuse vouchers near expiry).
MIN_REMAINING_LIFETIME = 3_600
_Paid = TypeVar("_Paid")


@dataclass(frozen=True)
class PaidCall:
    """One call as the consumer keeps it: enough to prove it later."""

    model_name: str
    inputs: dict[str, Any]
    output: dict[str, Any]
    salt: bytes
    voucher: Voucher
    receipt: CallReceipt
    log_index: int
    leaf_hash: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "input": self.inputs,
            "output": self.output,
            "salt": "0x" + self.salt.hex(),
            "voucher": self.voucher.to_dict(),
            "receipt": self.receipt.to_dict(),
            "log_index": self.log_index,
            "leaf_hash": "0x" + self.leaf_hash.hex(),
        }


@dataclass(frozen=True)
class PaidBatch:
    """A batch of calls as the consumer keeps it; item ``i`` is logged at ``log_index + i``."""

    model_name: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    salt: bytes
    voucher: Voucher
    receipt: BatchReceipt
    items: tuple[BatchItem, ...]
    log_index: int
    leaf_hashes: tuple[bytes, ...]

    def __len__(self) -> int:
        return len(self.inputs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "salt": "0x" + self.salt.hex(),
            "voucher": self.voucher.to_dict(),
            "receipt": self.receipt.to_dict(),
            "items": [item.to_dict() for item in self.items],
            "log_index": self.log_index,
            "leaf_hashes": ["0x" + leaf.hex() for leaf in self.leaf_hashes],
        }


class ServiceClient:
    """A consumer (``account``) of model services, paying through ``channels``.

    ``records`` are the account's own memory of what it signed and which models it
    used (:class:`ConsumerRecords`): what a voucher pays on top of comes from them and
    the chain, never from the host.
    """

    def __init__(
        self,
        account: LocalAccount,
        registry: ModelRegistryClient,
        channels: ChannelsClient,
        *,
        records: ConsumerRecords,
        transport_for: Callable[[ModelListing], Transport] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account = account
        self.records = records
        self.registry = registry
        self.channels = channels
        self.chain = channels.chain
        self._transport_for = transport_for or (lambda listing: HttpTransport(listing.endpoint))
        self._transports: dict[bytes, Transport] = {}
        self._clock = clock
        self.vouchers = VoucherSigner(self.chain.chain_id, channels.address)
        self.receipts = ReceiptSigner(self.chain.chain_id, registry.address)
        self._channel_of: dict[bytes, ChannelState] = {}
        self._lock = threading.Lock()

    # -- discovery and channels ----------------------------------------------------------------

    def discover(self, name: str, owner: str | None = None) -> ModelListing:
        """The active listing ``name`` (of ``owner``); raises for unknown, deprecated or
        ambiguous names.

        A bare name must resolve to the owner and model id this account first used
        under it (pinned in its records), else :class:`IntegrityError`: somebody else's
        model now answers to that name. Naming ``owner`` addresses a model explicitly.
        """
        pin = self.records.pinned(name)
        try:
            listing = self.registry.find(name, owner)
        except AmbiguousModelError as error:
            if pin is None:
                raise
            raise AmbiguousModelError(
                f"{error.message}; this account used the one of owner {pin.owner} before",
                field=error.field,
            ) from None
        if (
            owner is None
            and pin is not None
            and (listing.owner, listing.model_id)
            != (
                pin.owner,
                pin.model_id,
            )
        ):
            raise IntegrityError(
                f"model {name!r}: the registry at {self.registry.address} resolves it to "
                f"0x{listing.model_id.hex()} of owner {listing.owner}, but this account used "
                f"0x{pin.model_id.hex()} of owner {pin.owner} (pinned in {self.records.path}); "
                "name the owner to use another model",
                field="name",
            )
        return listing

    def open_channel(
        self, listing: ModelListing, deposit: int, *, lifetime: int = DEFAULT_LIFETIME
    ) -> ChannelState:
        """Open a new channel to ``listing`` with ``deposit`` ALT wei (one transaction)."""
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
            raise InvalidInputError(
                f"lifetime: expected a positive number of seconds, got {lifetime!r}",
                field="lifetime",
            )
        expiry = int(max(self._clock(), self._chain_time())) + lifetime
        channel = self.channels.open(self.account, listing.model_id, deposit, expiry)
        self._channel_of[listing.model_id] = channel
        return channel

    def channel_for(
        self,
        listing: ModelListing,
        *,
        deposit: int,
        lifetime: int = DEFAULT_LIFETIME,
        calls: int = 1,
    ) -> ChannelState:
        """A channel of ours to ``listing`` that can pay ``calls`` more calls: reused, else
        opened with ``deposit``."""
        cached = self._channel_of.get(listing.model_id)
        if cached is not None and self._can_pay(cached, listing, calls):
            return cached
        for channel in reversed(
            self.channels.opened(consumer=self.account.address, model_id=listing.model_id)
        ):
            if self._can_pay(channel, listing, calls):
                self._channel_of[listing.model_id] = channel
                return channel
        return self.open_channel(listing, deposit, lifetime=lifetime)

    def _can_pay(self, channel: ChannelState, listing: ModelListing, calls: int = 1) -> bool:
        if channel.reclaimed or channel.expiry - self._chain_time() < MIN_REMAINING_LIFETIME:
            return False
        return channel.deposit - self._spent(channel) >= calls * listing.price

    def _chain_time(self) -> float:
        return max(self._clock(), self.chain.get_block(self.chain.block_number()).timestamp)

    # -- calls ---------------------------------------------------------------------------------

    def call(
        self,
        listing: ModelListing,
        inputs: Mapping[str, Any],
        *,
        channel: ChannelState | None = None,
        deposit: int | None = None,
    ) -> PaidCall:
        """Pay for and make one call; returns the verified output and receipt.

        Without ``channel`` one is reused or opened with ``deposit`` (default: 100 calls).
        """
        request = dict(inputs)
        return self._paying(
            listing,
            1,
            channel,
            deposit,
            lambda channel, transport: self._pay_and_call(listing, channel, request, transport),
        )

    def call_batch(
        self,
        listing: ModelListing,
        inputs: Sequence[Mapping[str, Any]],
        *,
        channel: ChannelState | None = None,
        deposit: int | None = None,
    ) -> PaidBatch:
        """Pay for ``len(inputs)`` calls with one voucher and make them in one request.

        Returns the outputs in input order with one verified receipt. Without
        ``channel`` one that can pay the whole batch is reused or opened with
        ``deposit`` (default: the larger of 100 calls and the batch).
        """
        if isinstance(inputs, Mapping | str | bytes) or not isinstance(inputs, Sequence):
            raise InvalidInputError(
                f"inputs: expected a list of input objects, got {type(inputs).__name__}",
                field="inputs",
            )
        if not inputs:
            raise InvalidInputError("inputs: empty batch; expected at least one", field="inputs")
        requests = []
        for index, item in enumerate(inputs):
            if not isinstance(item, Mapping):
                raise InvalidInputError(
                    f"inputs[{index}]: expected an object, got {type(item).__name__}",
                    field=f"inputs[{index}]",
                )
            requests.append(dict(item))
        return self._paying(
            listing,
            len(requests),
            channel,
            deposit,
            lambda channel, transport: self._pay_and_call_batch(
                listing, channel, requests, transport
            ),
        )

    def _paying(
        self,
        listing: ModelListing,
        calls: int,
        channel: ChannelState | None,
        deposit: int | None,
        attempt: Callable[[ChannelState, Transport], _Paid],
    ) -> _Paid:
        if channel is None:
            channel = self.channel_for(
                listing, deposit=deposit or max(100, calls) * listing.price, calls=calls
            )
        transport = self._transport(listing)
        self.records.pin(listing.name, listing.owner, listing.model_id)
        # One voucher in flight per channel, across processes: a voucher signed later
        # but sent first would make ours stale and look like a host holding a refused one.
        with self._lock, self.records.channel_turn(self._ref(channel)):
            try:
                return attempt(channel, transport)
            except PaymentRequiredError as error:
                if error.field not in ("voucher.nonce", "voucher.amount"):
                    raise
                # The host may hold a voucher of ours whose answer we lost (a crash):
                # resume from it, once, if it is within what we signed.
                if not self._adopt_hosts_voucher(channel, transport):
                    raise
                return attempt(channel, transport)

    def _ref(self, channel: ChannelState) -> ChannelRef:
        return ChannelRef(self.chain.chain_id, self.channels.address, channel.channel_id)

    def _spent(self, channel: ChannelState) -> int:
        """What ``channel`` is already committed to: our accepted vouchers or the chain's
        claims, whichever is more; never the host's report."""
        record = self.records.channel(self._ref(channel))
        return max(record.accepted_amount if record else 0, channel.claimed)

    def _next_voucher(self, listing: ModelListing, channel: ChannelState, calls: int) -> Voucher:
        cost = calls * listing.price
        cost_text = f"the price {listing.price}"
        if calls > 1:
            cost_text = f"{calls} x the price {listing.price} = {cost}"
        return self.records.sign_next(
            self._ref(channel),
            chain_nonce=channel.nonce,
            chain_claimed=channel.claimed,
            cost=cost,
            cost_text=cost_text,
            deposit=channel.deposit,
            sign=lambda nonce, amount: self.vouchers.sign(
                self.account, channel.channel_id, nonce, amount
            ),
        )

    def _pay_and_call(
        self,
        listing: ModelListing,
        channel: ChannelState,
        inputs: dict[str, Any],
        transport: Transport,
    ) -> PaidCall:
        voucher = self._next_voucher(listing, channel, 1)
        salt = os.urandom(SALT_BYTES)
        response = transport.call(
            {"input": inputs, "salt": "0x" + salt.hex(), "voucher": voucher.to_dict()}
        )
        paid = self._verify_response(listing, inputs, salt, voucher, response)
        self.records.mark_accepted(self._ref(channel), voucher.nonce, voucher.amount)
        return paid

    def _pay_and_call_batch(
        self,
        listing: ModelListing,
        channel: ChannelState,
        inputs: list[dict[str, Any]],
        transport: Transport,
    ) -> PaidBatch:
        voucher = self._next_voucher(listing, channel, len(inputs))
        salt = os.urandom(SALT_BYTES)
        request = {"inputs": inputs, "salt": "0x" + salt.hex(), "voucher": voucher.to_dict()}
        # Each input's canonical JSON: hashed to check the receipt, and over HTTP sent
        # as the body's inputs (valid JSON of the same values, encoded once).
        encoded = [canonical_json(item) for item in inputs]
        if isinstance(transport, HttpTransport):
            response = transport.call_batch_encoded(request, encoded)
        else:
            response = transport.call_batch(request)
        paid = self._verify_batch(listing, inputs, salt, voucher, response, encoded)
        self.records.mark_accepted(self._ref(channel), voucher.nonce, voucher.amount)
        return paid

    def _verify_batch(
        self,
        listing: ModelListing,
        inputs: list[dict[str, Any]],
        salt: bytes,
        voucher: Voucher,
        response: dict[str, Any],
        encoded_inputs: list[bytes],
    ) -> PaidBatch:
        try:
            outputs = response["outputs"]
            receipt = BatchReceipt.from_dict(response["receipt"])
            log_index = response["log_index"]
            leaf_hashes = tuple(
                bytes.fromhex(str(leaf).removeprefix("0x")) for leaf in response["leaf_hashes"]
            )
            if not isinstance(outputs, list) or not isinstance(log_index, int):
                raise TypeError("outputs must be a list and log_index an integer")
        except (KeyError, TypeError, ValueError, InvalidInputError) as error:
            raise IntegrityError(f"response: malformed ({error})", field="response") from None
        self.receipts.verify(receipt, listing.owner)
        expected = {
            "model_id": listing.model_id,
            "model_hash": listing.model_hash,
            "log_id": listing.log_id,
            "channel_id": voucher.channel_id,
            "nonce": voucher.nonce,
            "amount": voucher.amount,
            "count": len(inputs),
        }
        for name, value in expected.items():
            if getattr(receipt, name) != value:
                raise IntegrityError(
                    f"receipt: {name} does not match this batch; the response was altered",
                    field=f"receipt.{name}",
                )
        if len(outputs) != len(inputs):
            raise IntegrityError(
                f"response: {len(outputs)} outputs for {len(inputs)} inputs", field="outputs"
            )
        try:
            root, items = batch_items(salt, inputs, outputs, encoded_inputs=encoded_inputs)
        except InvalidInputError as error:
            raise IntegrityError(f"response: outputs: {error.message}", field="outputs") from None
        if root != receipt.items_root:
            raise IntegrityError(
                "receipt: items_root does not commit to these inputs and outputs; the "
                "response was altered",
                field="receipt.items_root",
            )
        records = batch_records(receipt, voucher, items)
        if len(leaf_hashes) != len(records) or any(
            hash_leaf(record) != leaf for record, leaf in zip(records, leaf_hashes, strict=False)
        ):
            raise IntegrityError(
                "receipt: the log leaves the host reported are not this batch's records",
                field="leaf_hashes",
            )
        return PaidBatch(
            listing.name,
            inputs,
            outputs,
            salt,
            voucher,
            receipt,
            tuple(items),
            log_index,
            leaf_hashes,
        )

    def _verify_response(
        self,
        listing: ModelListing,
        inputs: dict[str, Any],
        salt: bytes,
        voucher: Voucher,
        response: dict[str, Any],
    ) -> PaidCall:
        try:
            output = response["output"]
            receipt = CallReceipt.from_dict(response["receipt"])
            log_index = response["log_index"]
            leaf_hash = bytes.fromhex(str(response["leaf_hash"]).removeprefix("0x"))
            if isinstance(log_index, bool) or not isinstance(log_index, int) or log_index < 0:
                raise TypeError("log_index must be a non-negative integer")
        except (KeyError, TypeError, ValueError, InvalidInputError) as error:
            raise IntegrityError(f"response: malformed ({error})", field="response") from None
        self.receipts.verify(receipt, listing.owner)
        expected = {
            "model_id": listing.model_id,
            "model_hash": listing.model_hash,
            "log_id": listing.log_id,
            "channel_id": voucher.channel_id,
            "nonce": voucher.nonce,
            "amount": voucher.amount,
            "request_hash": commit(salt, inputs),
            "response_hash": commit(salt, output),
        }
        for name, value in expected.items():
            if getattr(receipt, name) != value:
                raise IntegrityError(
                    f"receipt: {name} does not match this call; the response was altered",
                    field=f"receipt.{name}",
                )
        if hash_leaf(call_record(receipt, voucher)) != leaf_hash:
            raise IntegrityError(
                "receipt: the log leaf the host reported is not this call's record",
                field="leaf_hash",
            )
        return PaidCall(listing.name, inputs, output, salt, voucher, receipt, log_index, leaf_hash)

    def _adopt_hosts_voucher(self, channel: ChannelState, transport: Transport) -> bool:
        """Mark as accepted the host's latest voucher on ``channel`` if it is ours and
        within what we signed; True if that moved our records.

        Raises :class:`IntegrityError` when the host claims more than we signed (a
        spent amount or nonce above our records is the host's word against ours), or
        holds the very voucher it just refused (the last we signed): paying again on
        top of it would pay twice for one call.
        """
        ref = self._ref(channel)
        record = self.records.channel(ref)
        signed = (record.signed_nonce, record.signed_amount) if record else (0, 0)
        status = transport.channel(channel.channel_id)
        claims: list[tuple[str, object, object]] = []
        state = status.get("channel") if isinstance(status, dict) else None
        if isinstance(state, dict):
            claims.append(("its channel state", state.get("nonce"), state.get("claimed")))
        latest = status.get("latest_voucher") if isinstance(status, dict) else None
        voucher = None
        if latest is not None:
            try:
                voucher = Voucher.from_dict(latest)
                ours = self.vouchers.signer_of(voucher) == self.account.address
            except InvalidInputError:
                ours = False
            if not ours or voucher.channel_id != channel.channel_id:
                voucher = None  # not a voucher of ours for this channel: proves nothing
            else:
                claims.append(("a voucher of ours", voucher.nonce, voucher.amount))
        for what, nonce, amount in claims:
            if _above(nonce, signed[0]) or _above(amount, signed[1]):
                raise IntegrityError(
                    f"host: reports {what} on channel {channel.channel_id} at nonce {nonce} "
                    f"for {amount}, above the last voucher this account signed (nonce "
                    f"{signed[0]} for {signed[1]}, in {self.records.path}); refusing to pay "
                    "on top of it",
                    field="channel",
                )
        if voucher is not None and voucher.nonce == signed[0]:
            raise IntegrityError(
                f"host: refused voucher {voucher.nonce} on channel {channel.channel_id} yet "
                "reports holding it; not paying again for the same call",
                field="channel",
            )
        if voucher is None or (record and voucher.nonce <= record.accepted_nonce):
            return False
        self.records.mark_accepted(ref, voucher.nonce, voucher.amount)
        return True

    def rebuild_records(
        self, saved_calls: Sequence[Mapping[str, Any]] = (), *, ask_hosts: bool = True
    ) -> dict[int, ChannelRecord]:
        """Restore this account's records of every channel it opened (after the records
        file was lost), from evidence that needs nobody's word.

        Per channel: the chain's claimed nonce and amount; each of ``saved_calls``
        (``services call --save`` documents) whose receipt the model's owner signed
        over a voucher this account signed; and, with ``ask_hosts``, the host's copy of
        its latest voucher if it carries this account's signature (it was signed, so it
        pays nothing twice). The host's unsigned report of the channel is never used.
        Returns the rebuilt record per channel id.
        """
        evidence: dict[int, list[Voucher]] = {}
        for saved in saved_calls:
            voucher = self._saved_voucher(saved)
            evidence.setdefault(voucher.channel_id, []).append(voucher)
        rebuilt = {}
        for channel in self.channels.opened(consumer=self.account.address):
            vouchers = evidence.get(channel.channel_id, [])
            if ask_hosts and not channel.reclaimed:
                vouchers += self._hosts_copy(channel)
            nonce, amount = channel.nonce, channel.claimed
            for voucher in vouchers:
                nonce, amount = max(nonce, voucher.nonce), max(amount, voucher.amount)
            rebuilt[channel.channel_id] = self.records.rebuild(
                self._ref(channel), nonce=nonce, amount=min(amount, channel.deposit)
            )
        return rebuilt

    def _saved_voucher(self, saved: Mapping[str, Any]) -> Voucher:
        """The voucher of a saved call, once its receipt is checked to be the model owner's
        over that very voucher, and the voucher to be ours."""
        try:
            raw = saved["receipt"]
            receipt: CallReceipt | BatchReceipt = (
                BatchReceipt.from_dict(raw) if "count" in raw else CallReceipt.from_dict(raw)
            )
            voucher = Voucher.from_dict(saved["voucher"])
        except (KeyError, TypeError) as error:
            raise InvalidInputError(
                f"saved call: expected a receipt and a voucher ({error})", field="saved"
            ) from None
        self.receipts.verify(receipt, self.registry.get(receipt.model_id).owner)
        if (receipt.channel_id, receipt.nonce, receipt.amount) != (
            voucher.channel_id,
            voucher.nonce,
            voucher.amount,
        ) or self.vouchers.signer_of(voucher) != self.account.address:
            raise IntegrityError(
                f"saved call: the voucher is not this account's voucher the receipt names "
                f"(channel {receipt.channel_id}, nonce {receipt.nonce})",
                field="voucher",
            )
        return voucher

    def _hosts_copy(self, channel: ChannelState) -> list[Voucher]:
        """The host's latest voucher on ``channel`` if it carries our signature, else none."""
        try:
            transport = self._transport(self.registry.get(channel.model_id))
            latest = transport.channel(channel.channel_id).get("latest_voucher")
            voucher = Voucher.from_dict(latest)
            ours = self.vouchers.signer_of(voucher) == self.account.address
        except (AILedgerError, AttributeError, TypeError):
            return []  # unreachable or unreadable: proves nothing
        return [voucher] if ours and voucher.channel_id == channel.channel_id else []

    def _transport(self, listing: ModelListing) -> Transport:
        transport = self._transports.get(listing.model_id)
        if transport is None:
            transport = self._transports[listing.model_id] = self._transport_for(listing)
        return transport

    # -- proofs --------------------------------------------------------------------------------

    def proof(
        self,
        listing: ModelListing,
        call: PaidCall | PaidBatch,
        item: int = 0,
        *,
        wait: float = 0.0,
    ) -> dict[str, Any]:
        """The host's proof of ``call`` (of item ``item`` of a batch): record, inclusion
        proof, signed and anchored head.

        A host anchors by its batch policy, not on demand: until the call's batch is
        anchored it answers :class:`NotYetAnchoredError` naming when it will be. With
        ``wait`` seconds the client asks again (once a second) until then.
        """
        index = call.log_index + self._item(call, item)
        transport = self._transport(listing)
        deadline = time.monotonic() + wait
        while True:
            try:
                return transport.proof(index)
            except NotYetAnchoredError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                time.sleep(min(1.0, left))

    def prove(
        self,
        call: PaidCall | PaidBatch,
        listing: ModelListing | None = None,
        *,
        item: int = 0,
        wait: float = 0.0,
    ) -> CallProofReport:
        """Fetch (waiting up to ``wait`` seconds for its anchor, see :meth:`proof`) and
        verify the proof of ``call`` (of item ``item`` of a batch) on chain."""
        listing = listing or self.registry.get(call.receipt.model_id)
        index = self._item(call, item)
        report = verify_call_proof(
            self.proof(listing, call, index, wait=wait),
            self.chain,
            self.registry,
            expected_receipt=call.receipt,
        )
        if isinstance(call, PaidBatch) and report.item != call.items[index]:
            raise IntegrityError(
                f"proof: the logged record is not item {index} of this batch", field="item"
            )
        return report

    @staticmethod
    def _item(call: PaidCall | PaidBatch, item: int) -> int:
        size = len(call) if isinstance(call, PaidBatch) else 1
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item < size:
            raise InvalidInputError(
                f"item: expected an index below {size}, got {item!r}", field="item"
            )
        return item

    def spent(self, channel_id: int) -> int:
        """The cumulative amount of our last accepted voucher on ``channel_id``."""
        ref = ChannelRef(self.chain.chain_id, self.channels.address, channel_id)
        record = self.records.channel(ref)
        return record.accepted_amount if record else 0


def _above(reported: object, signed: int) -> bool:
    """Whether a host-reported number exceeds ``signed`` (a non-number counts as above)."""
    if isinstance(reported, bool) or not isinstance(reported, int):
        return reported is not None
    return reported > signed
