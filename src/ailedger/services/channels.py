"""Typed access to the ``PaymentChannels`` contract, for consumers and services.

:meth:`ChannelsClient.check_claimable` is the one off-chain copy of the checks
``PaymentChannels.claim`` makes, with the contract's own bounds
(:class:`VoucherLimits`, read from its public constants): a host that accepts
only what it passes is paid for everything it accepts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from eth_account.signers.local import LocalAccount

from ailedger.contracts.typed_data import PERMIT_TYPES, alt_token_domain
from ailedger.core.chain import Contract, Receipt, check_amount
from ailedger.core.identity import sign_typed
from ailedger.errors import InvalidInputError, NotFoundError, RevertError
from ailedger.services.errors import PaymentRequiredError
from ailedger.services.vouchers import Voucher, VoucherSigner

__all__ = ["ChannelState", "ChannelsClient", "ClaimResult", "VoucherLimits"]

PERMIT_VALIDITY_SECONDS = 3600


@dataclass(frozen=True)
class ChannelState:
    """A channel as the contract holds it. Amounts in ALT wei; ``expiry`` in Unix seconds."""

    channel_id: int
    consumer: str
    recipient: str
    model_id: bytes
    deposit: int
    claimed: int
    nonce: int
    expiry: int
    reclaimed: bool

    @property
    def unclaimed(self) -> int:
        return self.deposit - self.claimed

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "consumer": self.consumer,
            "recipient": self.recipient,
            "model_id": "0x" + self.model_id.hex(),
            "deposit": self.deposit,
            "claimed": self.claimed,
            "nonce": self.nonce,
            "expiry": self.expiry,
            "reclaimed": self.reclaimed,
        }


@dataclass(frozen=True)
class VoucherLimits:
    """The largest nonce and amount ``PaymentChannels.claim`` accepts (``MAX_NONCE``,
    ``MAX_AMOUNT`` on chain)."""

    max_nonce: int
    max_amount: int


@dataclass(frozen=True)
class ClaimResult:
    """A mined claim: ``paid`` is what it credited (voucher amount minus earlier claims)."""

    channel_id: int
    nonce: int
    amount: int
    paid: int
    receipt: Receipt


class ChannelsClient:
    """The deployed ``PaymentChannels`` (and the ALT token it holds) as Python methods."""

    def __init__(self, contract: Contract, token: Contract) -> None:
        self.contract = contract
        self.token = token
        self.chain = contract.chain
        self.address = contract.address
        self.vouchers = VoucherSigner(self.chain.chain_id, self.address)

    @cached_property
    def limits(self) -> VoucherLimits:
        """The contract's bounds on vouchers, read once from its public constants."""
        return VoucherLimits(self.contract.MAX_NONCE(), self.contract.MAX_AMOUNT())

    # -- consumer ----------------------------------------------------------------------------

    def open(
        self,
        consumer: LocalAccount,
        model_id: bytes,
        deposit: int,
        expiry: int,
        *,
        use_permit: bool = True,
    ) -> ChannelState:
        """Open a channel with ``deposit`` ALT until ``expiry`` (Unix seconds).

        With ``use_permit`` (default) one transaction does it, authorised by an
        EIP-2612 permit signed here; otherwise an ``approve`` precedes ``open``.
        """
        check_amount(deposit, "deposit")
        if use_permit:
            deadline = int(time.time()) + PERMIT_VALIDITY_SECONDS
            message = {
                "owner": consumer.address,
                "spender": self.address,
                "value": deposit,
                "nonce": self.token.nonces(consumer.address),
                "deadline": deadline,
            }
            domain = alt_token_domain(self.chain.chain_id, self.token.address)
            signature = sign_typed(consumer, domain, "Permit", PERMIT_TYPES, message)
            receipt = self.contract.open_with_permit(
                model_id,
                deposit,
                expiry,
                deadline,
                signature[64],
                signature[:32],
                signature[32:64],
                sender=consumer,
            )
        else:
            self.token.approve(self.address, deposit, sender=consumer)
            receipt = self.contract.open(model_id, deposit, expiry, sender=consumer)
        (event,) = self.contract.decode_logs(receipt, "ChannelOpened")
        return self.get(event.args["channel_id"])

    def top_up(self, consumer: LocalAccount, channel_id: int, amount: int) -> ChannelState:
        """Add ``amount`` ALT to the deposit (approves it first)."""
        self.token.approve(self.address, amount, sender=consumer)
        self.contract.top_up(channel_id, amount, sender=consumer)
        return self.get(channel_id)

    def extend(self, consumer: LocalAccount, channel_id: int, expiry: int) -> ChannelState:
        self.contract.extend(channel_id, expiry, sender=consumer)
        return self.get(channel_id)

    def reclaim(self, consumer: LocalAccount, channel_id: int) -> int:
        """Reclaim the unclaimed deposit of an expired channel; returns the amount credited."""
        receipt = self.contract.reclaim(channel_id, sender=consumer)
        (event,) = self.contract.decode_logs(receipt, "Reclaimed")
        return event.args["refund"]

    # -- service -----------------------------------------------------------------------------

    def claim(self, service: LocalAccount, voucher: Voucher) -> ClaimResult:
        """Claim ``voucher`` on its channel; credits the difference to earlier claims."""
        receipt = self.contract.claim(
            voucher.channel_id, voucher.as_struct(), voucher.signature, sender=service
        )
        events = self.contract.decode_logs(receipt, "Claimed")
        if not events:
            raise RevertError("claim: the transaction emitted no Claimed event")
        args = events[0].args
        return ClaimResult(voucher.channel_id, args["nonce"], args["amount"], args["paid"], receipt)

    def check_claimable(
        self,
        voucher: Voucher,
        channel: ChannelState,
        *,
        claimant: str,
        now: float,
        expiry_margin: int,
    ) -> None:
        """Raise :class:`PaymentRequiredError` (naming the field) unless ``claimant`` can
        claim ``voucher`` on ``channel`` (its current state on chain) for at least
        ``expiry_margin`` seconds after ``now``.

        The checks of ``PaymentChannels.claim``, in its order and with its bounds: the
        channel, not reclaimed, the caller its recipient, a nonce above the claimed one
        and at most ``MAX_NONCE``, an amount above the claimed one and within the
        deposit, the consumer's EIP-712 signature under this contract's domain (chain id
        and address). Claims are possible until the consumer reclaims, which it may from
        ``expiry`` on: the margin leaves the claimant time to claim before that.
        """
        channel_id = channel.channel_id
        if voucher.channel_id != channel_id:
            raise PaymentRequiredError(
                f"voucher: for channel {voucher.channel_id}, expected channel {channel_id}",
                field="voucher.channel_id",
            )
        if channel.reclaimed:
            raise PaymentRequiredError(
                f"voucher: channel {channel_id} was reclaimed by its consumer",
                field="voucher.channel_id",
            )
        if claimant != channel.recipient:
            raise PaymentRequiredError(
                f"voucher: channel {channel_id} pays {channel.recipient}, not {claimant}",
                field="voucher.channel_id",
            )
        limits = self.limits
        if not channel.nonce < voucher.nonce <= limits.max_nonce:
            raise PaymentRequiredError(
                f"voucher: nonce on channel {channel_id}: expected above {channel.nonce} and "
                f"at most {limits.max_nonce} (the contract's MAX_NONCE), got {voucher.nonce}",
                field="voucher.nonce",
            )
        if voucher.amount > channel.deposit:
            raise PaymentRequiredError(
                f"voucher: amount above deposit on channel {channel_id}: expected at most "
                f"{channel.deposit}, got {voucher.amount}",
                field="voucher.amount",
            )
        if voucher.amount <= channel.claimed:
            raise PaymentRequiredError(
                f"voucher: amount on channel {channel_id}: expected above the "
                f"{channel.claimed} claimed, got {voucher.amount}",
                field="voucher.amount",
            )
        if channel.expiry - now < expiry_margin:
            raise PaymentRequiredError(
                f"voucher: channel {channel_id} expires at {channel.expiry}, within the "
                f"{expiry_margin} s margin; extend it or open a new channel",
                field="voucher.channel_id",
            )
        try:
            signer = self.vouchers.signer_of(voucher)
        except InvalidInputError as error:
            raise PaymentRequiredError(error.message, field="voucher.signature") from None
        if signer != channel.consumer:
            raise PaymentRequiredError(
                f"voucher: signed by {signer}, expected the consumer of channel {channel_id} "
                f"({channel.consumer})",
                field="voucher.signature",
            )

    # -- anyone ------------------------------------------------------------------------------

    def withdraw(self, account: LocalAccount, amount: int | None = None) -> int:
        """Move ``amount`` (default: all) of ``account``'s credited ALT to it; returns it."""
        amount = self.balance_of(account.address) if amount is None else amount
        if amount <= 0:
            return 0
        self.contract.withdraw(amount, sender=account)
        return amount

    def balance_of(self, address: str) -> int:
        """ALT credited to ``address`` by claims or reclaims and not yet withdrawn."""
        return self.contract.balance_of(address)

    def get(self, channel_id: int) -> ChannelState:
        """The channel's state on chain; ``NotFoundError`` for an unknown id."""
        if isinstance(channel_id, bool) or not isinstance(channel_id, int) or channel_id < 0:
            raise InvalidInputError(
                f"channel_id: expected a non-negative integer, got {channel_id!r}",
                field="channel_id",
            )
        if channel_id >= self.contract.channel_count():
            raise NotFoundError(f"channel {channel_id} does not exist", field="channel_id")
        return ChannelState(channel_id, *self.contract.get_channel(channel_id))

    def opened(
        self, *, consumer: str | None = None, model_id: bytes | None = None
    ) -> list[ChannelState]:
        """Current state of every channel opened (by ``consumer``, for ``model_id``)."""
        ids = []
        for event in self.contract.get_events("ChannelOpened"):
            args = event.args
            if consumer is not None and args["consumer"] != consumer:
                continue
            if model_id is not None and args["model_id"] != model_id:
                continue
            ids.append(args["channel_id"])
        return [self.get(i) for i in ids]
