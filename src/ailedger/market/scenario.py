"""The patient data pool of the demo: patients paid automatically for every use of their data.

:func:`run_patient_market` runs it end to end on an open platform and returns a
:class:`MarketSummary`; it prints nothing (``progress`` receives one line per
step). A hospital curates a pool of synthetic patients' biopsy records; the
pool passes the anonymization gate and is listed; one research lab buys access
and another pays for a compute-to-data job; every sale credits every patient
through one constant-gas update; each patient then withdraws their ALT.

Patients' wallets are fresh keys made for the run (a real patient brings their
own); they are funded with a little ETH for the gas of their withdrawal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_account import Account

from ailedger.core.identity import canonical_json
from ailedger.core.storage import open_blob_store
from ailedger.market.catalog import open_catalog
from ailedger.market.compute import ComputeJob
from ailedger.market.contract import ContributorShare, DataMarket, open_market
from ailedger.market.patients import DIAGNOSIS, PATIENT_POLICY, pooled_records, synthetic_patients
from ailedger.market.service import DataBuyer, DataSeller

if TYPE_CHECKING:
    from ailedger.platform import Platform

__all__ = ["MARKET_LOG", "MarketSummary", "PatientEarnings", "run_patient_market"]

ALT = 10**18
MARKET_LOG = "market"
ACCESS_PRICE = 60 * ALT
COMPUTE_PRICE = 24 * ALT
LAB_FUNDS = 500 * ALT
PATIENT_GAS_WEI = 10**16
ACCOUNT_GAS_WEI = 10**18
LICENSE = (
    "Research use only. No re-identification, no linkage with other datasets, "
    "no redistribution. Results may be published in aggregate."
)
SUMMARY_BOUNDS = {"mean radius": (5.0, 30.0), "mean texture": (5.0, 40.0)}


@dataclass(frozen=True)
class PatientEarnings:
    """One patient's share and what each sale paid them (ALT wei)."""

    label: str  # pseudonymous: the patient id never leaves the hospital
    address: str
    records: int
    quality_bps: int
    after_access_sale: int
    after_compute_sale: int
    withdrawn: int


@dataclass(frozen=True)
class MarketSummary:
    market: str
    pool_id: int
    listing_id: int
    patients: int
    rows: int
    gate_summary: str
    generalization: dict[str, int]
    dp_summary: dict[str, object] | None
    access_purchase: int
    access_rows_received: int
    compute_purchase: int
    compute_estimator: str
    compute_metrics: dict[str, float]
    model_hash: str
    join_gas: int
    access_sale_gas: int
    compute_sale_gas: int
    withdraw_gas: int
    fee_paid: int
    earnings: tuple[PatientEarnings, ...]
    log_size: int
    log_root: str
    anchor_tx: str | None

    @property
    def total_paid_to_patients(self) -> int:
        return sum(e.withdrawn for e in self.earnings)


def run_patient_market(
    platform: Platform,
    *,
    n_patients: int = 48,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> MarketSummary:
    """Run the patient-pool scenario on ``platform`` (core contracts deployed or reused)."""
    say = progress or (lambda _message: None)
    say("deploying the DataMarket")
    platform.deploy_core_contracts()
    market = open_market(platform, deploy_if_missing=True)
    operator = platform.operator
    hospital = platform.account("hospital", create=True, fund_wei=ACCOUNT_GAS_WEI)
    labs = [platform.account(n, create=True, fund_wei=ACCOUNT_GAS_WEI) for n in ("lab-a", "lab-b")]
    for lab in labs:
        market.token.mint(lab.address, LAB_FUNDS, sender=operator)

    say(f"enrolling {n_patients} synthetic patients")
    patients = synthetic_patients(n_patients, seed=seed)
    wallets = [Account.create() for _ in patients]
    for wallet in wallets:
        platform.chain.transact(operator, wallet.address, value=PATIENT_GAS_WEI)

    store = open_blob_store(platform.settings)
    log = platform.open_log(MARKET_LOG)
    catalog = open_catalog(platform.settings, platform.chain.chain_id, market.address)
    try:
        seller = DataSeller(market, hospital, store, catalog, log)
        seller.record_payments()  # repair what an interrupted earlier run paid but did not log
        metadata = {"title": "Breast biopsy pool", "policy": PATIENT_POLICY.describe()}
        pool_id = market.create_pool(hospital, hashlib.sha256(canonical_json(metadata)).digest())
        shares = [
            ContributorShare(w.address, p.record_count, p.quality_bps)
            for p, w in zip(patients, wallets, strict=True)
        ]
        say(f"recording {len(shares)} contributor shares in pool {pool_id}")
        join_gas = market.join(hospital, pool_id, shares)

        say("checking the pool against the anonymization gate and listing it")
        published = seller.publish(
            pooled_records(patients),
            PATIENT_POLICY,
            title="Breast biopsy pool (Wisconsin diagnostic measurements)",
            license_text=LICENSE,
            price=ACCESS_PRICE,
            compute_price=COMPUTE_PRICE,
            pool_id=pool_id,
            summary_bounds=SUMMARY_BOUNDS,
        )
        listing_id = published.listing_id

        say("lab-a buys access: escrow, key posted wrapped to its delivery key, acknowledgement")
        lab_a = DataBuyer(market, labs[0], store)
        access_id = lab_a.buy_access(listing_id)
        seller.deliver_access(access_id, lab_a.delivery_public_key(access_id))
        frame, signature = lab_a.receive_dataset(access_id)
        access_sale = seller.settle(access_id, signature)
        after_access = [market.earned(pool_id, w.address) for w in wallets]

        say("lab-b runs a compute-to-data job: the model leaves, the rows stay")
        lab_b = DataBuyer(market, labs[1], store)
        job_id = lab_b.order_compute(listing_id)
        job = ComputeJob(
            "gradient_boosting",
            target=DIAGNOSIS,
            params={"n_estimators": 60, "max_depth": 2},
            seed=seed,
        )
        job_delivery = seller.deliver_compute(job_id, job, lab_b.delivery_public_key(job_id))
        _, job_signature = lab_b.receive_model(job_id, job_delivery.model_hash or "")
        compute_sale = seller.settle(job_id, job_signature)
        after_compute = [market.earned(pool_id, w.address) for w in wallets]

        say("every patient withdraws what the two sales earned them")
        withdrawn, withdraw_gas = _withdraw_all(market, pool_id, wallets)
        fee_paid = sum(market.purchase(i).amount for i in (access_id, job_id)) - sum(
            market.contract.decode_logs(platform.chain.wait_for_receipt(s.tx_hash), "Settled")[
                0
            ].args["proceeds"]
            for s in (access_sale, compute_sale)
        )

        say("anchoring the market log")
        log.close_batch()
        anchors = log.anchors()
        report = published.release.report
        return MarketSummary(
            market=market.address,
            pool_id=pool_id,
            listing_id=listing_id,
            patients=len(patients),
            rows=report.rows,
            gate_summary=report.summary(),
            generalization=dict(report.generalization),
            dp_summary=catalog.dataset(listing_id).summary,
            access_purchase=access_id,
            access_rows_received=len(frame),
            compute_purchase=job_id,
            compute_estimator=job.estimator,
            compute_metrics=dict(job_delivery.metrics or {}),
            model_hash=job_delivery.model_hash or "",
            join_gas=join_gas,
            access_sale_gas=access_sale.gas_used,
            compute_sale_gas=compute_sale.gas_used,
            withdraw_gas=withdraw_gas,
            fee_paid=fee_paid,
            earnings=tuple(
                PatientEarnings(
                    label=f"patient {i + 1:02d}",
                    address=wallet.address,
                    records=patient.record_count,
                    quality_bps=patient.quality_bps,
                    after_access_sale=after_access[i],
                    after_compute_sale=after_compute[i],
                    withdrawn=withdrawn[i],
                )
                for i, (patient, wallet) in enumerate(zip(patients, wallets, strict=True))
            ),
            log_size=log.size,
            log_root="0x" + log.root().hex(),
            anchor_tx="0x" + anchors[-1].tx_hash.hex() if anchors else None,
        )
    finally:
        catalog.close()
        log.close()


def _withdraw_all(market: DataMarket, pool_id: int, wallets: list) -> tuple[list[int], int]:
    withdrawn, gas = [], 0
    for wallet in wallets:
        receipt = market.contract.claim_and_withdraw(pool_id, sender=wallet)
        withdrawn.append(market.contract.decode_logs(receipt, "Withdrawn")[0].args["amount"])
        gas = receipt.gas_used  # the same for every patient: report one
    return withdrawn, gas
