"""The data marketplace: anonymized pools, escrowed sales, automatic payouts, compute-to-data.

Public API (everything else in this package may change)::

    # the anonymization gate
    Policy(direct_identifiers, quasi_identifiers={col: Bands|Prefix|Keep}, sensitive, k=5, l=2,
           subject=None)
    anonymize(frame, policy) -> AnonymizedDataset(frame, report: GateReport)
        # raises AnonymizationError(report) naming offending columns and groups
    private_summary(frame, bounds=..., category=None, epsilon=1.0) -> PrivateSummary  # diffprivlib
    # compute-to-data
    ComputeJob(estimator, target, params={}, test_fraction=0.25, seed=0)  # allow-listed, bounded
    run_job(frame, job) -> ComputeResult(model, model_hash, metrics, ...)
    # the contract
    open_market(platform, deploy_if_missing=False) -> DataMarket
    DataMarket: listing/listings/purchase/purchases/pool/pools/contributors/earned/balance_of,
        create_pool, join(curator, pool_id, [ContributorShare]), create_listing, set_active,
        buy (permit; max_price, delivery_key) / buy_with_allowance, deliver, delivered,
        dispute, settle, sign_delivery, acknowledge_delivery, reclaim, claim_and_withdraw,
        withdraw
    # the fair exchange (exchange.py) and the log records (records.py)
    wrap_key_for / unwrap_key / delivery_secret; record_payments(market, catalog, log)
    # the two sides of a sale
    DataSeller(market, account, store, catalog, log).publish / deliver_access / deliver_compute
        / settle / record_payments
    DataBuyer(market, account, store).buy_access / order_compute / delivery_public_key
        / receive_dataset / receive_model / dispute
    # the demo scenario
    run_patient_market(platform, n_patients=48) -> MarketSummary
"""

from __future__ import annotations

from ailedger.market.anonymize import (
    AnonymizationError,
    AnonymizedDataset,
    Bands,
    GateReport,
    Keep,
    Policy,
    Prefix,
    anonymize,
)
from ailedger.market.compute import ALLOWED_ESTIMATORS, ComputeJob, ComputeResult, run_job
from ailedger.market.contract import (
    ContributorShare,
    DataMarket,
    Kind,
    Listing,
    Pool,
    Purchase,
    Status,
    open_market,
)
from ailedger.market.privacy import PrivateSummary, private_summary
from ailedger.market.scenario import MarketSummary, run_patient_market
from ailedger.market.service import DataBuyer, DataSeller, Delivery, Settlement

__all__ = [
    "ALLOWED_ESTIMATORS",
    "AnonymizationError",
    "AnonymizedDataset",
    "Bands",
    "ComputeJob",
    "ComputeResult",
    "ContributorShare",
    "DataBuyer",
    "DataMarket",
    "DataSeller",
    "Delivery",
    "GateReport",
    "Keep",
    "Kind",
    "Listing",
    "MarketSummary",
    "Policy",
    "Pool",
    "Prefix",
    "PrivateSummary",
    "Purchase",
    "Settlement",
    "Status",
    "anonymize",
    "open_market",
    "private_summary",
    "run_job",
    "run_patient_market",
]
