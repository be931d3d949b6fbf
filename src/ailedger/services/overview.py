"""One read-only picture of the services on a platform, for the API and the dashboard.

Listings and channels come from the chain; calls per channel come from the hosts'
voucher stores in this data dir (only hosts run here are counted); earnings are
the ``Claimed`` events per service plus what each still has credited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ailedger.platform import Platform
from ailedger.services.channels import ChannelState
from ailedger.services.deployment import service_contracts
from ailedger.services.registry import ModelListing
from ailedger.services.runtime import voucher_store_path
from ailedger.services.store import VoucherStore

__all__ = ["ChannelRow", "Earnings", "ServicesOverview", "services_overview"]


@dataclass(frozen=True)
class ChannelRow:
    """A channel with the model's name and what its host accepted so far."""

    state: ChannelState
    model_name: str
    calls: int
    accepted: int  # cumulative amount of the latest voucher the host accepted

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.state.to_dict(),
            "model_name": self.model_name,
            "calls": self.calls,
            "accepted": self.accepted,
        }


@dataclass(frozen=True)
class Earnings:
    """A service owner's income: claimed on chain in total, and still credited (unwithdrawn)."""

    owner: str
    claimed: int
    credited: int
    claims: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "claimed": self.claimed,
            "credited": self.credited,
            "claims": self.claims,
        }


@dataclass(frozen=True)
class ServicesOverview:
    listings: list[ModelListing] = field(default_factory=list)
    channels: list[ChannelRow] = field(default_factory=list)
    earnings: list[Earnings] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(row.calls for row in self.channels)

    def calls_per_model(self) -> dict[str, int]:
        counts: dict[str, int] = {listing.name: 0 for listing in self.listings}
        for row in self.channels:
            counts[row.model_name] = counts.get(row.model_name, 0) + row.calls
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "listings": [listing.to_dict() for listing in self.listings],
            "channels": [row.to_dict() for row in self.channels],
            "earnings": [entry.to_dict() for entry in self.earnings],
            "calls": self.calls,
        }


def services_overview(platform: Platform) -> ServicesOverview:
    """Listings, channels and earnings; ``NotFoundError`` if the contracts are not deployed."""
    contracts = service_contracts(platform)
    listings = contracts.registry.all()
    names = {listing.model_id: listing.name for listing in listings}
    accepted: dict[int, tuple[int, int]] = {}
    for listing in listings:
        path = voucher_store_path(platform.settings, listing.name)
        if not path.exists():
            continue
        with VoucherStore(path, synchronous="NORMAL") as store:
            for entry in store.all():
                accepted[entry.voucher.channel_id] = (entry.calls, entry.voucher.amount)
    rows = []
    for state in contracts.channels.opened():
        calls, amount = accepted.get(state.channel_id, (0, 0))
        rows.append(
            ChannelRow(
                state, names.get(state.model_id, "0x" + state.model_id.hex()[:8]), calls, amount
            )
        )
    claimed: dict[str, tuple[int, int]] = {}
    for event in contracts.channels.contract.get_events("Claimed"):
        total, count = claimed.get(event.args["recipient"], (0, 0))
        claimed[event.args["recipient"]] = (total + event.args["paid"], count + 1)
    owners = sorted({listing.owner for listing in listings} | set(claimed))
    earnings = [
        Earnings(
            owner,
            claimed.get(owner, (0, 0))[0],
            contracts.channels.balance_of(owner),
            claimed.get(owner, (0, 0))[1],
        )
        for owner in owners
    ]
    return ServicesOverview(listings, rows, earnings)
