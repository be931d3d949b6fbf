"""Channel vouchers: the consumer's signed promise of a cumulative amount on one channel.

A voucher ``(channel_id, nonce, amount)`` is the EIP-712 ``Voucher`` struct that
``PaymentChannels.claim`` verifies. ``amount`` is cumulative: the total owed on the
channel so far, so the latest voucher alone is worth claiming.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from ailedger.contracts.typed_data import VOUCHER_TYPES, payment_channels_domain
from ailedger.errors import InvalidInputError
from ailedger.services._signing import StructSigner

__all__ = ["Voucher", "VoucherSigner"]


@dataclass(frozen=True)
class Voucher:
    """One signed voucher; ``signature`` is the consumer's 65-byte r || s || v."""

    channel_id: int
    nonce: int
    amount: int
    signature: bytes

    def message(self) -> dict[str, int]:
        """The EIP-712 message (camelCase, as the contract hashes it)."""
        return {"channelId": self.channel_id, "nonce": self.nonce, "amount": self.amount}

    def as_struct(self) -> tuple[int, int, int]:
        """The ``Voucher`` struct argument of ``PaymentChannels.claim``."""
        return (self.channel_id, self.nonce, self.amount)

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "nonce": self.nonce,
            "amount": self.amount,
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_dict(cls, data: object) -> Voucher:
        """Parse and range-check a voucher; errors name the field (``voucher.nonce``, ...)."""
        if not isinstance(data, dict):
            raise InvalidInputError(
                f"voucher: expected an object, got {type(data).__name__}", field="voucher"
            )
        values = {}
        for name in ("channel_id", "nonce", "amount"):
            value = data.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**256:
                raise InvalidInputError(
                    f"voucher.{name}: expected a non-negative integer below 2**256, got {value!r}",
                    field=f"voucher.{name}",
                )
            values[name] = value
        signature = data.get("signature")
        try:
            raw = bytes.fromhex(signature.removeprefix("0x"))  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            raise InvalidInputError(
                f"voucher.signature: expected 0x-prefixed hex, got {signature!r}",
                field="voucher.signature",
            ) from None
        return cls(signature=raw, **values)


class VoucherSigner:
    """Signs and checks vouchers for the ``PaymentChannels`` at ``channels_address``."""

    def __init__(self, chain_id: int, channels_address: str) -> None:
        self.domain = payment_channels_domain(chain_id, channels_address)
        self._signer = StructSigner(self.domain, "Voucher", VOUCHER_TYPES)

    def sign(self, account: LocalAccount, channel_id: int, nonce: int, amount: int) -> Voucher:
        """A voucher for ``amount`` (cumulative) at ``nonce`` on ``channel_id``."""
        message = {"channelId": channel_id, "nonce": nonce, "amount": amount}
        return Voucher(channel_id, nonce, amount, self._signer.sign(account, message))

    def signer_of(self, voucher: Voucher) -> str:
        """The address that signed ``voucher`` (raises ``InvalidInputError`` if malformed)."""
        return self._signer.recover(voucher.message(), voucher.signature)

    def digest(self, voucher: Voucher) -> bytes:
        """The EIP-712 digest of ``voucher`` (what ``voucher_digest`` returns on chain)."""
        return self._signer.digest(voucher.message())
