"""The two sides of a sale: a :class:`DataSeller` where the data lives, a :class:`DataBuyer`.

Access sale::

    seller.publish(frame, policy, ...)          -> listing (gate passed, blob sealed)
    buyer.buy_access(listing_id)                -> purchase in escrow
    seller.deliver_access(purchase_id, pubkey)  -> key wrapped to the buyer
    buyer.receive_dataset(delivery)             -> rows + signed acknowledgement
    seller.settle(delivery, signature)          -> escrow released, use recorded on the log

A compute-to-data job is the same dance with ``order_compute`` /
``deliver_compute`` / ``receive_model``: the model is sealed for the buyer, and
the rows never leave the seller. Both sides talk to the same ``DataMarket``
contract; only the seller holds the dataset key (wrapped to itself in its
catalog) and only the buyer's private key opens what is delivered.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from eth_account.signers.local import LocalAccount
from sklearn.base import BaseEstimator

from ailedger.core.identity import canonical_json
from ailedger.core.log import TransparencyLog
from ailedger.core.storage import BlobStore
from ailedger.errors import IntegrityError, InvalidInputError, UnauthorizedError
from ailedger.market.anonymize import AnonymizedDataset, Policy, anonymize
from ailedger.market.catalog import Catalog, CatalogDataset, CatalogDelivery
from ailedger.market.compute import ComputeJob, check_job, run_job
from ailedger.market.contract import DataMarket, Kind, Status, check_terms
from ailedger.market.delivery import (
    SealedKey,
    check_buyer_key,
    open_dataset,
    public_key_of_account,
    seal_dataset,
    seal_key_for,
    unseal_key,
)
from ailedger.market.privacy import private_summary

__all__ = [
    "ACCESS_RECORD",
    "COMPUTE_RECORD",
    "DataBuyer",
    "DataSeller",
    "Delivery",
    "PublishedDataset",
    "Settlement",
]

ACCESS_RECORD = "ailedger.market.access/v1"
COMPUTE_RECORD = "ailedger.market.compute/v1"


@dataclass(frozen=True)
class PublishedDataset:
    """A listed dataset: its listing, its on-chain commitment and the release that passed."""

    listing_id: int
    commitment: bytes
    release: AnonymizedDataset = field(repr=False)


@dataclass(frozen=True)
class Delivery:
    """What the seller hands a buyer: a sealed key (and, for a job, what was trained)."""

    purchase_id: int
    kind: Kind
    sealed: SealedKey
    model_hash: str | None = None
    metrics: dict[str, float] | None = None
    job: dict[str, Any] | None = None

    @property
    def delivery_hash(self) -> bytes:
        """What the buyer signs: the wrapped key's hash, or for a job the model's hash."""
        if self.model_hash is not None:
            return bytes.fromhex(self.model_hash)
        return self.sealed.delivery_hash


@dataclass(frozen=True)
class Settlement:
    """A released escrow and where the sale is recorded on the log."""

    purchase_id: int
    tx_hash: bytes
    gas_used: int
    leaf_index: int | None


class DataSeller:
    """The side that holds the data: publishes, delivers, runs jobs, settles."""

    def __init__(
        self,
        market: DataMarket,
        account: LocalAccount,
        store: BlobStore,
        catalog: Catalog,
        log: TransparencyLog | None = None,
    ) -> None:
        self.market = market
        self.account = account
        self.store = store
        self.catalog = catalog
        self.log = log

    def publish(
        self,
        frame: pd.DataFrame,
        policy: Policy,
        *,
        title: str,
        license_text: str,
        price: int,
        compute_price: int = 0,
        pool_id: int = 0,
        summary_bounds: dict[str, tuple[float, float]] | None = None,
        summary_epsilon: float = 1.0,
    ) -> PublishedDataset:
        """Gate, seal and list ``frame``. Raises ``AnonymizationError`` if it fails the gate.

        Nothing is stored or listed for a dataset the gate refuses, nor for terms the
        contract would refuse (a bad price, a pool this seller does not curate).
        """
        if not isinstance(title, str) or not title.strip():
            raise InvalidInputError("title: expected a non-empty string", field="title")
        if not isinstance(license_text, str) or not license_text.strip():
            raise InvalidInputError(
                "license_text: expected a non-empty string", field="license_text"
            )
        check_terms(price, compute_price, pool_id)
        if pool_id:
            curator = self.market.pool(pool_id).curator  # unknown: RevertError "unknown pool"
            if curator != self.account.address:
                raise UnauthorizedError(
                    f"pool_id: pool {pool_id} is curated by {curator}, not {self.account.address}",
                    field="pool_id",
                )
        release = anonymize(frame, policy)
        summary = None
        if summary_bounds:
            summary = private_summary(
                release.frame,
                bounds=summary_bounds,
                category=policy.sensitive,
                epsilon=summary_epsilon,
            ).to_dict()
        sealed = seal_dataset(self.store, release.frame)
        listing_id = self.market.create_listing(
            self.account,
            commitment=sealed.commitment,
            license_hash=hashlib.sha256(license_text.encode()).digest(),
            price=price,
            compute_price=compute_price,
            pool_id=pool_id,
        )
        self.catalog.add_dataset(
            CatalogDataset(
                listing_id=listing_id,
                title=title,
                blob_address=sealed.address,
                owner_wrapped_key=seal_key_for(
                    sealed.key, sealed.address, public_key_of_account(self.account)
                ).wrapped_key,
                rows=sealed.rows,
                columns=sealed.columns,
                license_text=license_text,
                gate_report=release.report.to_dict(),
                summary=summary,
            )
        )
        return PublishedDataset(listing_id, sealed.commitment, release)

    def deliver_access(self, purchase_id: int, buyer_public_key: bytes) -> Delivery:
        """Wrap the dataset key to the buyer of an escrowed access purchase."""
        purchase, entry = self._escrowed(purchase_id, Kind.ACCESS)
        check_buyer_key(buyer_public_key, purchase.buyer)
        sealed = seal_key_for(self._dataset_key(entry), entry.blob_address, buyer_public_key)
        self.catalog.add_delivery(
            CatalogDelivery(purchase_id, "access", entry.blob_address, sealed.wrapped_key, {}, None)
        )
        return Delivery(purchase_id, Kind.ACCESS, sealed)

    def check_job(self, listing_id: int, job: ComputeJob) -> None:
        """Refuse ``job`` on the listing's dataset before the buyer pays for it.

        Raises ``InvalidInputError`` naming what is wrong (the target, too few rows of a
        class...), ``NotFoundError`` if the listing is not in this seller's catalog.
        """
        entry = self.catalog.dataset(listing_id)
        check_job(open_dataset(self.store, entry.blob_address, self._dataset_key(entry)), job)

    def deliver_compute(
        self, purchase_id: int, job: ComputeJob, buyer_public_key: bytes
    ) -> Delivery:
        """Run ``job`` on the dataset of an escrowed compute purchase; seal the model."""
        purchase, entry = self._escrowed(purchase_id, Kind.COMPUTE)
        check_buyer_key(buyer_public_key, purchase.buyer)
        frame = open_dataset(self.store, entry.blob_address, self._dataset_key(entry))
        result = run_job(frame, job)
        model_ref = self.store.put(result.model)
        sealed = seal_key_for(model_ref.key, model_ref.address, buyer_public_key)
        detail = {
            "job": job.to_dict(),
            "metrics": result.metrics,
            "model_hash": result.model_hash,
            "features": list(result.features),
            "n_train": result.n_train,
            "n_test": result.n_test,
        }
        self.catalog.add_delivery(
            CatalogDelivery(
                purchase_id, "compute", model_ref.address, sealed.wrapped_key, detail, None
            )
        )
        return Delivery(
            purchase_id,
            Kind.COMPUTE,
            sealed,
            model_hash=result.model_hash,
            metrics=result.metrics,
            job=job.to_dict(),
        )

    def settle(self, delivery: Delivery, signature: bytes) -> Settlement:
        """Release the escrow with the buyer's acknowledgement and record the use on the log.

        The log record holds the listing's commitment, the buyer, the amount and what
        was delivered (for a job: estimator, parameters, model hash and metrics);
        never a row of data.
        """
        purchase = self.market.purchase(delivery.purchase_id)
        listing = self.market.listing(purchase.listing_id)
        receipt = self.market.acknowledge_delivery(
            self.account, delivery.purchase_id, delivery.delivery_hash, signature
        )
        leaf_index = None
        if self.log is not None:
            record = {
                "type": ACCESS_RECORD if delivery.kind == Kind.ACCESS else COMPUTE_RECORD,
                "chain_id": self.market.chain.chain_id,
                "market": self.market.address,
                "purchase_id": delivery.purchase_id,
                "listing_id": purchase.listing_id,
                "pool_id": listing.pool_id,
                "dataset_commitment": "0x" + listing.commitment.hex(),
                "buyer": purchase.buyer,
                "amount": purchase.amount,
                "fee_bps": purchase.fee_bps,
                "delivery_hash": "0x" + delivery.delivery_hash.hex(),
                "settlement_tx": "0x" + receipt.tx_hash.hex(),
            }
            if delivery.kind == Kind.COMPUTE:
                record["job"] = delivery.job
                record["model_hash"] = delivery.model_hash
                record["metrics"] = delivery.metrics
            leaf_index = self.log.append(canonical_json(record)).index
            self.catalog.set_leaf_index(delivery.purchase_id, leaf_index)
        return Settlement(delivery.purchase_id, receipt.tx_hash, receipt.gas_used, leaf_index)

    def _escrowed(self, purchase_id: int, kind: Kind):
        purchase = self.market.purchase(purchase_id)
        if purchase.kind != kind:
            raise InvalidInputError(
                f"purchase {purchase_id}: expected a purchase of kind {kind.name.lower()}, "
                f"got {purchase.kind.name.lower()}",
                field="purchase_id",
            )
        if purchase.status != Status.ESCROWED:
            raise InvalidInputError(
                f"purchase {purchase_id}: expected it in escrow, got {purchase.status.name}",
                field="purchase_id",
            )
        listing = self.market.listing(purchase.listing_id)
        if listing.seller != self.account.address:
            raise UnauthorizedError(
                f"purchase {purchase_id}: listing {listing.listing_id} is sold by "
                f"{listing.seller}, not {self.account.address}",
                field="purchase_id",
            )
        return purchase, self.catalog.dataset(purchase.listing_id)

    def _dataset_key(self, entry: CatalogDataset) -> bytes:
        return unseal_key(SealedKey(entry.blob_address, entry.owner_wrapped_key), self.account)


class DataBuyer:
    """The side that pays: buys, opens what is delivered, acknowledges it."""

    def __init__(self, market: DataMarket, account: LocalAccount, store: BlobStore) -> None:
        self.market = market
        self.account = account
        self.store = store

    @property
    def public_key(self) -> bytes:
        """The compressed public key a seller wraps deliveries to."""
        return public_key_of_account(self.account)

    def buy_access(self, listing_id: int) -> int:
        """Pay the access price into escrow (by permit); return the purchase id."""
        return self.market.buy(self.account, listing_id, Kind.ACCESS)

    def order_compute(self, listing_id: int) -> int:
        """Pay the compute price into escrow (by permit); return the purchase id."""
        return self.market.buy(self.account, listing_id, Kind.COMPUTE)

    def receive_dataset(self, delivery: Delivery) -> tuple[pd.DataFrame, bytes]:
        """Open a delivered dataset, check it is the listed one, sign the acknowledgement."""
        purchase = self.market.purchase(delivery.purchase_id)
        listing = self.market.listing(purchase.listing_id)
        if delivery.sealed.blob_address != listing.commitment.hex():
            raise IntegrityError(
                f"delivery: blob {delivery.sealed.blob_address} is not the listed dataset "
                f"{listing.commitment.hex()}",
                field="blob_address",
            )
        key = unseal_key(delivery.sealed, self.account)
        frame = open_dataset(self.store, delivery.sealed.blob_address, key)
        signature = self.market.sign_delivery(
            self.account, delivery.purchase_id, delivery.delivery_hash
        )
        return frame, signature

    def receive_model(self, delivery: Delivery) -> tuple[BaseEstimator, bytes]:
        """Open a delivered model, check its hash, sign the acknowledgement."""
        if delivery.model_hash is None:
            raise InvalidInputError("delivery: not a compute delivery", field="delivery")
        key = unseal_key(delivery.sealed, self.account)
        model_bytes = self.store.get(delivery.sealed.blob_address, key)
        if hashlib.sha256(model_bytes).hexdigest() != delivery.model_hash:
            raise IntegrityError("delivery: the model does not match its hash", field="model")
        model = pickle.loads(model_bytes)
        signature = self.market.sign_delivery(
            self.account, delivery.purchase_id, delivery.delivery_hash
        )
        return model, signature


def compute_result_of(delivery: Delivery) -> dict[str, Any]:
    """A compute delivery as plain data (what the API returns)."""
    return {
        "purchase_id": delivery.purchase_id,
        "model_hash": delivery.model_hash,
        "metrics": delivery.metrics,
        "job": delivery.job,
        "blob_address": delivery.sealed.blob_address,
    }
