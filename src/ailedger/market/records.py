"""The ``market`` log's sale records, derived from the chain and repaired from it.

Every payment the DataMarket makes for a listing of this data dir (a settlement to
the seller or pool, a refund to a buyer) gets exactly one record on the ``market``
log. A record is built only from what is on chain (the purchase, its listing, the
``Settled`` or ``Refunded`` event) plus, for a compute job, the job detail the seller
wrote to its catalog *before* posting the delivery. So the log never has to be
written before a transaction: :func:`record_payments` compares the chain's events
with the log and appends what is missing, after every settlement and whenever a
market command or service opens. A crash between a transaction and its record is
repaired by the next run; several processes doing this at once are serialised by a
lock file next to the catalog, and each re-reads the log under the lock, so no
payment is recorded twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ailedger.core.identity import canonical_json
from ailedger.core.log import TransparencyLog
from ailedger.core.storage.locks import exclusive_lock
from ailedger.errors import NotFoundError
from ailedger.market.catalog import Catalog
from ailedger.market.contract import DataMarket, Kind

__all__ = [
    "ACCESS_RECORD",
    "COMPUTE_RECORD",
    "REFUND_RECORD",
    "adopt_pending_listings",
    "record_payments",
    "recorded_purchases",
]

ACCESS_RECORD = "ailedger.market.access/v1"
COMPUTE_RECORD = "ailedger.market.compute/v1"
REFUND_RECORD = "ailedger.market.refund/v1"


def record_payments(market: DataMarket, catalog: Catalog, log: TransparencyLog) -> dict[int, int]:
    """Append a record for every payment of this catalog's listings the log lacks.

    Listings a crash left pending in the catalog are adopted first, so their sales count.
    Returns the leaf index of every purchase recorded on the log (old and new).
    """
    with exclusive_lock(catalog.path.with_suffix(".lock")):
        adopt_pending_listings(market, catalog)
        recorded = recorded_purchases(log, market)
        for purchase_id, record in _payments(market, catalog):
            if purchase_id in recorded:
                continue
            recorded[purchase_id] = log.append(canonical_json(record)).index
            catalog.set_leaf_index(purchase_id, recorded[purchase_id])
    return recorded


def adopt_pending_listings(market: DataMarket, catalog: Catalog) -> list[int]:
    """File each pending catalog dataset under the listing that went on chain for it.

    A dataset is pending from just before its listing transaction until the catalog has
    its listing id; one whose transaction never happened stays pending. Returns the ids
    adopted.
    """
    pending = {entry.blob_address: entry for entry in catalog.pending()}
    adopted = []
    if not pending:
        return adopted
    for event in market.listing_events():
        address = event.args["commitment"].hex()
        if address in pending:
            catalog.list_pending(address, event.args["listing_id"])
            adopted.append(event.args["listing_id"])
    return adopted


def recorded_purchases(log: TransparencyLog, market: DataMarket) -> dict[int, int]:
    """Leaf index of each purchase of ``market`` already on the log.

    Reads the store itself, not the log object's view of it, so records another
    process appended since this one opened the log count too.
    """
    found: dict[int, int] = {}
    for index, entry in enumerate(log.store.entries(0, log.store.size())):
        record = json.loads(entry)
        if (
            record.get("type") in (ACCESS_RECORD, COMPUTE_RECORD, REFUND_RECORD)
            and record.get("market") == market.address
            and record.get("chain_id") == market.chain.chain_id
        ):
            found.setdefault(record["purchase_id"], index)
    return found


def _payments(market: DataMarket, catalog: Catalog) -> Iterator[tuple[int, dict[str, Any]]]:
    """(purchase id, record) for each payment on chain, in chain order."""
    ours = {entry.listing_id for entry in catalog.datasets()}
    for event in market.payment_events():
        purchase = market.purchase(event.args["purchase_id"])
        if purchase.listing_id not in ours:
            continue  # another seller's sale: its own data dir records it
        listing = market.listing(purchase.listing_id)
        record: dict[str, Any] = {
            "chain_id": market.chain.chain_id,
            "market": market.address,
            "purchase_id": purchase.purchase_id,
            "listing_id": purchase.listing_id,
            "pool_id": listing.pool_id,
            "dataset_commitment": "0x" + listing.commitment.hex(),
            "buyer": purchase.buyer,
            "amount": purchase.amount,
            "tx": "0x" + event.log.tx_hash.hex(),
        }
        if event.name == "Refunded":
            record.update(type=REFUND_RECORD, disputed=event.args["disputed"])
        else:
            record.update(
                type=ACCESS_RECORD if purchase.kind == Kind.ACCESS else COMPUTE_RECORD,
                fee_bps=purchase.fee_bps,
                fee=event.args["fee"],
                fee_recipient=event.args["fee_recipient"],
                proceeds=event.args["proceeds"],
                delivery_hash="0x" + event.args["delivery_hash"].hex(),
            )
            if purchase.kind == Kind.COMPUTE:
                record.update(_job_detail(catalog, purchase.purchase_id))
        yield purchase.purchase_id, record


def _job_detail(catalog: Catalog, purchase_id: int) -> dict[str, Any]:
    try:
        detail = catalog.delivery(purchase_id).detail
    except NotFoundError:
        return {}
    return {name: detail[name] for name in ("job", "model_hash", "metrics") if name in detail}
