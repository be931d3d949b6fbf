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
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from ailedger.core.log import hash_leaf
from ailedger.errors import IntegrityError, InvalidInputError
from ailedger.services.channels import ChannelsClient, ChannelState
from ailedger.services.errors import PaymentRequiredError
from ailedger.services.proofs import CallProofReport, verify_call_proof
from ailedger.services.receipts import SALT_BYTES, CallReceipt, ReceiptSigner, call_record, commit
from ailedger.services.registry import ModelListing, ModelRegistryClient
from ailedger.services.transport import HttpTransport, Transport
from ailedger.services.vouchers import Voucher, VoucherSigner

__all__ = ["PaidCall", "ServiceClient"]

DEFAULT_LIFETIME = 7 * 86_400
# A reused channel must stay open at least this long (hosts refuse vouchers near expiry).
MIN_REMAINING_LIFETIME = 3_600


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


class ServiceClient:
    """A consumer (``account``) of model services, paying through ``channels``."""

    def __init__(
        self,
        account: LocalAccount,
        registry: ModelRegistryClient,
        channels: ChannelsClient,
        *,
        transport_for: Callable[[ModelListing], Transport] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account = account
        self.registry = registry
        self.channels = channels
        self.chain = channels.chain
        self._transport_for = transport_for or (lambda listing: HttpTransport(listing.endpoint))
        self._transports: dict[bytes, Transport] = {}
        self._clock = clock
        self.vouchers = VoucherSigner(self.chain.chain_id, channels.address)
        self.receipts = ReceiptSigner(self.chain.chain_id, registry.address)
        # channel id -> (nonce, cumulative amount) of the last voucher the host accepted.
        self._last: dict[int, tuple[int, int]] = {}
        self._channel_of: dict[bytes, ChannelState] = {}
        self._lock = threading.Lock()

    # -- discovery and channels ----------------------------------------------------------------

    def discover(self, name: str, owner: str | None = None) -> ModelListing:
        """The active listing called ``name``; raises for unknown or deprecated models."""
        return self.registry.find(name, owner)

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
        self._last[channel.channel_id] = (channel.nonce, channel.claimed)
        return channel

    def channel_for(
        self, listing: ModelListing, *, deposit: int, lifetime: int = DEFAULT_LIFETIME
    ) -> ChannelState:
        """A channel of ours to ``listing`` that can pay one more call: reused, else opened."""
        cached = self._channel_of.get(listing.model_id)
        if cached is not None and self._can_pay(cached, listing):
            return cached
        for channel in reversed(
            self.channels.opened(consumer=self.account.address, model_id=listing.model_id)
        ):
            if self._can_pay(channel, listing):
                self._channel_of[listing.model_id] = channel
                return channel
        return self.open_channel(listing, deposit, lifetime=lifetime)

    def _can_pay(self, channel: ChannelState, listing: ModelListing) -> bool:
        if channel.reclaimed or channel.expiry - self._chain_time() < MIN_REMAINING_LIFETIME:
            return False
        _, spent = self._last.get(channel.channel_id, (channel.nonce, channel.claimed))
        return channel.deposit - spent >= listing.price

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
        if channel is None:
            channel = self.channel_for(listing, deposit=deposit or 100 * listing.price)
        transport = self._transport(listing)
        with self._lock:
            last = self._last.get(channel.channel_id)
            if last is None:
                last = self._sync(channel, transport)
            try:
                return self._pay_and_call(listing, channel, dict(inputs), last, transport)
            except PaymentRequiredError as error:
                if error.field not in ("voucher.nonce", "voucher.amount"):
                    raise
                # The host knows a newer voucher of ours (a response lost in a crash, or
                # another client of this account): resume from it, once.
                synced = self._sync(channel, transport)
                if synced == last:
                    raise
                return self._pay_and_call(listing, channel, dict(inputs), synced, transport)

    def _pay_and_call(
        self,
        listing: ModelListing,
        channel: ChannelState,
        inputs: dict[str, Any],
        last: tuple[int, int],
        transport: Transport,
    ) -> PaidCall:
        nonce, amount = last[0] + 1, last[1] + listing.price
        if amount > channel.deposit:
            raise PaymentRequiredError(
                f"channel {channel.channel_id}: {channel.deposit - last[1]} ALT wei left, below "
                f"the price {listing.price}; top it up or open a new channel",
                field="deposit",
            )
        voucher = self.vouchers.sign(self.account, channel.channel_id, nonce, amount)
        salt = os.urandom(SALT_BYTES)
        response = transport.call(
            {"input": inputs, "salt": "0x" + salt.hex(), "voucher": voucher.to_dict()}
        )
        paid = self._verify_response(listing, inputs, salt, voucher, response)
        self._last[channel.channel_id] = (nonce, amount)
        return paid

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
        except (KeyError, TypeError, ValueError, InvalidInputError) as error:
            raise IntegrityError(f"response: malformed ({error})", field="response") from None
        self.receipts.verify(receipt, listing.owner)
        expected = {
            "model_id": listing.model_id,
            "model_hash": listing.model_hash,
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

    def _sync(self, channel: ChannelState, transport: Transport) -> tuple[int, int]:
        """The latest voucher the host accepted on ``channel``, if it is really ours."""
        status = transport.channel(channel.channel_id)
        state = status.get("channel", {})
        last = (int(state.get("nonce", channel.nonce)), int(state.get("claimed", channel.claimed)))
        latest = status.get("latest_voucher")
        if latest is not None:
            voucher = Voucher.from_dict(latest)
            # Only a voucher we signed can raise what we owe; anything else is ignored.
            if (
                voucher.channel_id == channel.channel_id
                and self.vouchers.signer_of(voucher) == self.account.address
            ):
                last = max(last, (voucher.nonce, voucher.amount))
        self._last[channel.channel_id] = last
        return last

    def _transport(self, listing: ModelListing) -> Transport:
        transport = self._transports.get(listing.model_id)
        if transport is None:
            transport = self._transports[listing.model_id] = self._transport_for(listing)
        return transport

    # -- proofs --------------------------------------------------------------------------------

    def proof(self, listing: ModelListing, call: PaidCall) -> dict[str, Any]:
        """The host's proof of ``call``: record, inclusion proof, signed and anchored head."""
        return self._transport(listing).proof(call.log_index)

    def prove(self, call: PaidCall, listing: ModelListing | None = None) -> CallProofReport:
        """Fetch and verify the proof of ``call`` against the chain."""
        listing = listing or self.registry.get(call.receipt.model_id)
        return verify_call_proof(
            self.proof(listing, call), self.chain, self.registry, expected_receipt=call.receipt
        )

    def spent(self, channel_id: int) -> int:
        """The cumulative amount of our last accepted voucher on ``channel_id``."""
        return self._last.get(channel_id, (0, 0))[1]
