"""Read models of the market for the API, the dashboard and the CLI: plain, JSON-ready dicts.

Chain state (listings, pools, purchases, shares, earnings) comes from the
DataMarket contract; titles, row counts and private summaries from the seller's
catalog in this data dir when it has the listing.
"""

from __future__ import annotations

from typing import Any

from ailedger.errors import NotFoundError
from ailedger.market.catalog import Catalog
from ailedger.market.contract import DataMarket, Listing, Pool, Purchase

__all__ = ["contributor_rows", "listing_view", "market_overview", "pool_view", "purchase_view"]


def listing_view(listing: Listing, catalog: Catalog | None = None) -> dict[str, Any]:
    """A listing's terms; title, rows, gate verdict and DP summary if ``catalog`` has it."""
    view: dict[str, Any] = {
        "listing_id": listing.listing_id,
        "seller": listing.seller,
        "pool_id": listing.pool_id or None,
        "active": listing.active,
        "price_wei": str(listing.price),
        "price_alt": listing.price / 10**18,
        "compute_price_wei": str(listing.compute_price),
        "compute_price_alt": listing.compute_price / 10**18,
        "commitment": "0x" + listing.commitment.hex(),
        "license_hash": "0x" + listing.license_hash.hex(),
        "title": None,
        "rows": None,
        "gate": None,
        "private_summary": None,
    }
    if catalog is not None:
        try:
            entry = catalog.dataset(listing.listing_id)
        except NotFoundError:
            return view
        view.update(
            title=entry.title,
            rows=entry.rows,
            gate=entry.gate_report.get("summary"),
            private_summary=entry.summary,
        )
    return view


def pool_view(pool: Pool) -> dict[str, Any]:
    """A pool's curator, contributor count, shares and revenue (wei as strings)."""
    return {
        "pool_id": pool.pool_id,
        "curator": pool.curator,
        "metadata_hash": "0x" + pool.metadata_hash.hex(),
        "contributors": pool.contributors,
        "total_shares": str(pool.total_shares),
        "revenue_wei": str(pool.revenue),
        "revenue_alt": pool.revenue / 10**18,
        "open_sales": pool.open_sales,
    }


def purchase_view(purchase: Purchase) -> dict[str, Any]:
    """A purchase's buyer, kind, amount, status and delivery hash (None until delivered)."""
    return {
        "purchase_id": purchase.purchase_id,
        "listing_id": purchase.listing_id,
        "buyer": purchase.buyer,
        "kind": purchase.kind.name.lower(),
        "status": purchase.status.name.lower(),
        "amount_wei": str(purchase.amount),
        "amount_alt": purchase.amount / 10**18,
        "fee_bps": purchase.fee_bps,
        "fee_recipient": purchase.fee_recipient,
        # escrowed: the delivery deadline; delivered: the end of the dispute window
        "deadline": purchase.deadline,
        "delivery_hash": "0x" + purchase.delivery_hash.hex()
        if any(purchase.delivery_hash)
        else None,
    }


def contributor_rows(market: DataMarket, pool_id: int) -> list[dict[str, Any]]:
    """Each current contributor's share and lifetime earnings (claimed + pending)."""
    market.pool(pool_id)  # unknown pool: RevertError "pool: unknown pool"
    rows = []
    for address in market.contributors(pool_id):
        shares, records, quality, _, claimed = market.contract.contributor(pool_id, address)
        pending = market.earned(pool_id, address)
        rows.append(
            {
                "address": address,
                "records": records,
                "quality_bps": quality,
                "shares": str(shares),
                "pending_wei": str(pending),
                "claimed_wei": str(claimed),
                "earned_alt": (pending + claimed) / 10**18,
            }
        )
    return rows


def market_overview(market: DataMarket, catalog: Catalog | None = None) -> dict[str, Any]:
    """Everything the dashboard page shows, in one read."""
    return {
        "address": market.address,
        "fee_bps": market.contract.fee_bps(),
        "dispute_window": market.contract.dispute_window(),
        "listings": [listing_view(item, catalog) for item in market.listings()],
        "pools": [pool_view(pool) for pool in market.pools()],
        "purchases": [purchase_view(p) for p in market.purchases()],
    }
