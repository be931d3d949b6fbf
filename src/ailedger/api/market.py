"""``/market/...``: listings, pools, contributors' earnings, purchases, gate checks, paid jobs.

JSON only; the dashboard page of the market is ``/market`` (``web/market.py``).

Reads need nothing. Writes (``POST`` that sign transactions) need the bearer
token (:func:`require_writer`) and act for keystore accounts of this data dir:
the buyer is named in the body, the seller is whichever keystore account holds
the listing's seller address.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eth_account.signers.local import LocalAccount
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from ailedger.api.deps import get_platform, require_writer
from ailedger.core.storage import open_blob_store
from ailedger.errors import InvalidInputError, NotFoundError, RevertError
from ailedger.market.anonymize import anonymize, policy_from_dict
from ailedger.market.catalog import Catalog, open_catalog
from ailedger.market.compute import ALLOWED_ESTIMATORS, ComputeJob
from ailedger.market.contract import MAX_PRICE, DataMarket, Listing, open_market
from ailedger.market.records import record_payments
from ailedger.market.scenario import MARKET_LOG
from ailedger.market.service import DataBuyer, DataSeller
from ailedger.market.views import (
    contributor_rows,
    listing_view,
    market_overview,
    pool_view,
    purchase_view,
)
from ailedger.platform import Platform

router = APIRouter(prefix="/market", tags=["market"])
MAX_GATE_ROWS = 100_000


@contextmanager
def _opened(platform: Platform) -> Iterator[tuple[DataMarket, Catalog]]:
    market = open_market(platform)
    catalog = open_catalog(platform.settings, platform.chain.chain_id, market.address)
    try:
        yield market, catalog
    finally:
        catalog.close()


@contextmanager
def _must_exist(kind: str, item_id: int) -> Iterator[None]:
    """Turn the contract's "<kind>: unknown <kind>" revert into a 404 naming the id."""
    try:
        yield
    except RevertError as error:
        if f"unknown {kind}" not in error.reason:
            raise
        raise NotFoundError(f"no {kind} with id {item_id}", field=f"{kind}_id") from None


def _listing(market: DataMarket, listing_id: int) -> Listing:
    with _must_exist("listing", listing_id):
        return market.listing(listing_id)


def _keystore_account(platform: Platform, address: str, role: str) -> LocalAccount:
    for info in platform.keystore.list():
        if info.address == address:
            return platform.account(info.name)
    raise NotFoundError(f"{role}: no keystore account holds {address}", field=role)


@router.get("/overview")
def overview(platform: Platform = Depends(get_platform)) -> dict[str, Any]:
    """The market contract, its fee, and every listing, pool and purchase."""
    with _opened(platform) as (market, catalog):
        return market_overview(market, catalog)


@router.get("/listings")
def listings(platform: Platform = Depends(get_platform)) -> list[dict[str, Any]]:
    """Every listing with its terms and, for this seller's own, title and gate verdict."""
    with _opened(platform) as (market, catalog):
        return [listing_view(item, catalog) for item in market.listings()]


@router.get("/listings/{listing_id}")
def listing(listing_id: int, platform: Platform = Depends(get_platform)) -> dict[str, Any]:
    """One listing; 404 if there is none."""
    with _opened(platform) as (market, catalog):
        return listing_view(_listing(market, listing_id), catalog)


@router.get("/pools")
def pools(platform: Platform = Depends(get_platform)) -> list[dict[str, Any]]:
    """Every pool: curator, contributor count, revenue paid to contributors."""
    with _opened(platform) as (market, _):
        return [pool_view(pool) for pool in market.pools()]


@router.get("/pools/{pool_id}/contributors")
def contributors(pool_id: int, platform: Platform = Depends(get_platform)) -> list[dict]:
    """Each contributor's share and earnings (claimed plus still pending); 404 if no pool."""
    with _opened(platform) as (market, _), _must_exist("pool", pool_id):
        return contributor_rows(market, pool_id)


@router.get("/purchases")
def purchases(platform: Platform = Depends(get_platform)) -> list[dict[str, Any]]:
    """Every purchase: buyer, kind, amount, escrow status and what was delivered."""
    with _opened(platform) as (market, _):
        return [purchase_view(p) for p in market.purchases()]


@router.get("/balances/{address}")
def balance(address: str, platform: Platform = Depends(get_platform)) -> dict[str, Any]:
    """ALT credited to ``address`` in the market and withdrawable."""
    with _opened(platform) as (market, _):
        wei = market.balance_of(address)
    return {"address": address, "balance_wei": str(wei), "balance_alt": wei / 10**18}


@router.get("/estimators")
def estimators() -> dict[str, Any]:
    """The compute-to-data allow-list with each parameter's bounds."""
    return {
        name: {
            "description": spec.description,
            "params": {
                p: {"type": b.kind.__name__, "min": b.low, "max": b.high, "default": b.default}
                for p, b in spec.params.items()
            },
        }
        for name, spec in ALLOWED_ESTIMATORS.items()
    }


class GateRequest(BaseModel):
    rows: list[dict[str, Any]] = Field(..., description="The dataset, one object per row.")
    policy: dict[str, Any] = Field(..., description="See market.anonymize.policy_from_dict.")


@router.post("/gate")
def gate(body: GateRequest) -> dict[str, Any]:
    """Check a dataset against a policy; 422 with the report if it fails. Stores nothing."""
    import pandas as pd

    if len(body.rows) > MAX_GATE_ROWS:
        raise InvalidInputError(
            f"rows: expected at most {MAX_GATE_ROWS}, got {len(body.rows)}", field="rows"
        )
    released = anonymize(pd.DataFrame(body.rows), policy_from_dict(body.policy))
    return released.report.to_dict()


class ActiveRequest(BaseModel):
    active: bool


@router.post("/listings/{listing_id}/active", dependencies=[Depends(require_writer)])
def set_active(
    listing_id: int, body: ActiveRequest, platform: Platform = Depends(get_platform)
) -> dict[str, Any]:
    """Delist or relist, signed by the seller's keystore account."""
    with _opened(platform) as (market, catalog):
        seller = _keystore_account(platform, _listing(market, listing_id).seller, "seller")
        market.set_active(seller, listing_id, body.active)
        return listing_view(market.listing(listing_id), catalog)


class ComputeRequest(BaseModel):
    listing_id: int
    buyer: str = Field(..., description="Keystore account name of the buyer.")
    estimator: str
    target: str
    # Passed through unconverted, so ComputeJob names a bad value (JSON true is not
    # max_depth=1, "3" is not a number).
    params: dict[str, Any] = Field(default_factory=dict)
    max_price: int | None = Field(
        None, ge=1, le=MAX_PRICE, description="Most ALT wei to pay (default: the price now)."
    )


@router.post("/compute-jobs", dependencies=[Depends(require_writer)])
def compute_job(body: ComputeRequest, platform: Platform = Depends(get_platform)) -> dict:
    """Pay for a compute-to-data job, run it where the data lives, settle, log it.

    Returns the model's hash, its metrics and where the sealed model is; the model
    key is wrapped to the buyer, and no row is returned.
    """
    job = ComputeJob(body.estimator, target=body.target, params=body.params)
    buyer_account = platform.account(body.buyer)
    store = open_blob_store(platform.settings)
    log = platform.open_log(MARKET_LOG)
    try:
        with _opened(platform) as (market, catalog):
            seller_account = _keystore_account(
                platform, _listing(market, body.listing_id).seller, "seller"
            )
            seller = DataSeller(market, seller_account, store, catalog, log)
            buyer = DataBuyer(market, buyer_account, store)
            seller.record_payments()  # first repair what an interrupted request left unlogged
            # Refuse a job that cannot run (unknown target, too few rows) before paying.
            seller.check_job(body.listing_id, job)
            purchase_id = buyer.order_compute(body.listing_id, max_price=body.max_price)
            delivery = seller.deliver_compute(
                purchase_id, job, buyer.delivery_public_key(purchase_id)
            )
            _, signature = buyer.receive_model(purchase_id, delivery.model_hash or "")
            settlement = seller.settle(purchase_id, signature)
            log.close_batch()
    finally:
        log.close()
    return {
        "purchase_id": purchase_id,
        "model_hash": delivery.model_hash,
        "metrics": delivery.metrics,
        "job": delivery.job,
        "model_blob": delivery.blob_address,
        "wrapped_key": delivery.wrapped.wrapped.hex(),
        "delivery_hash": "0x" + delivery.delivery_hash.hex(),
        "log_index": settlement.leaf_index,
        "settlement_tx": "0x" + settlement.tx_hash.hex(),
    }


class AccountRequest(BaseModel):
    account: str = Field(..., description="Keystore account name that signs the transaction.")


@router.post("/purchases/{purchase_id}/settle", dependencies=[Depends(require_writer)])
def settle(
    purchase_id: int, body: AccountRequest, platform: Platform = Depends(get_platform)
) -> dict[str, Any]:
    """Pay out a delivered purchase once its dispute window passed (anyone may); log it.

    409 with the contract's reason before the window ends or for a purchase not delivered.
    """
    return _paid(
        platform,
        purchase_id,
        lambda market: market.settle(platform.account(body.account), purchase_id),
    )


class DisputeRequest(BaseModel):
    buyer: str = Field(..., description="Keystore account name of the buyer.")


@router.post("/purchases/{purchase_id}/dispute", dependencies=[Depends(require_writer)])
def dispute(
    purchase_id: int, body: DisputeRequest, platform: Platform = Depends(get_platform)
) -> dict[str, Any]:
    """Prove the delivered key wrong and refund the buyer; log it.

    409 "dispute: the delivered key matches its commitment" when the key was right.
    """
    store = open_blob_store(platform.settings)
    return _paid(
        platform,
        purchase_id,
        lambda market: DataBuyer(market, platform.account(body.buyer), store).dispute(purchase_id),
    )


def _paid(platform: Platform, purchase_id: int, pay) -> dict[str, Any]:
    """Run ``pay(market)`` (a transaction that moves escrow), then record it on the log."""
    log = platform.open_log(MARKET_LOG)
    try:
        with _opened(platform) as (market, catalog):
            pay(market)
            recorded = record_payments(market, catalog, log)
            view = purchase_view(market.purchase(purchase_id))
    finally:
        log.close()
    return {**view, "log_index": recorded.get(purchase_id)}
