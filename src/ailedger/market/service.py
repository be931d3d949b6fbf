"""The two sides of a sale: a :class:`DataSeller` where the data lives, a :class:`DataBuyer`.

Access sale (an optimistic fair exchange, see ``DataMarket.vy`` and ``exchange.py``)::

    seller.publish(frame, policy, ...)             -> listing (gate passed, blob sealed,
                                                      keccak256 of its key committed)
    buyer.buy_access(listing_id)                   -> purchase in escrow, fresh delivery key
    seller.deliver_access(id, buyer.delivery_public_key(id))
                                                   -> key wrapped to it, posted on chain
    buyer.receive_dataset(id)                      -> rows + signed acknowledgement, or
                                                      IntegrityError -> buyer.dispute(id)
    seller.settle(id, signature)                   -> paid now with the acknowledgement,
    seller.settle(id)                                 or by anyone once the window passed

A compute-to-data job is the same with ``order_compute`` / ``deliver_compute`` /
``receive_model``: the model (a skops file, never a pickle) is sealed under a fresh
key, and the rows never leave the seller. Payment does not depend on the buyer:
a buyer who takes the key and stays silent pays after the dispute window. Every
payment is recorded on the ``market`` log from the chain (``records.py``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from eth_account.signers.local import LocalAccount
from sklearn.base import BaseEstimator

from ailedger.core.log import TransparencyLog
from ailedger.core.storage import BlobStore
from ailedger.errors import IntegrityError, InvalidInputError, UnauthorizedError
from ailedger.market.anonymize import AnonymizedDataset, Policy, anonymize
from ailedger.market.catalog import Catalog, CatalogDataset, CatalogDelivery
from ailedger.market.compute import ComputeJob, check_job, load_model, run_job
from ailedger.market.contract import DataMarket, Kind, Status, check_terms
from ailedger.market.delivery import (
    SealedKey,
    open_dataset,
    public_key_of_account,
    seal_dataset,
    seal_key_for,
    unseal_key,
)
from ailedger.market.exchange import (
    WrappedKey,
    delivery_secret,
    find_delivery_secret,
    key_address,
    key_hash,
    next_delivery_index,
    public_key_of_secret,
    unwrap_key,
    wrap_key_for,
)
from ailedger.market.privacy import private_summary
from ailedger.market.records import record_payments

__all__ = [
    "DataBuyer",
    "DataSeller",
    "Delivery",
    "PublishedDataset",
    "Settlement",
]


@dataclass(frozen=True)
class PublishedDataset:
    """A listed dataset: its listing, its on-chain commitment and the release that passed."""

    listing_id: int
    commitment: bytes
    release: AnonymizedDataset = field(repr=False)


@dataclass(frozen=True)
class Delivery:
    """A delivery as the seller posted it; for a job, also what was trained (off chain)."""

    purchase_id: int
    kind: Kind
    blob_address: str
    wrapped: WrappedKey
    key_hash: bytes
    delivery_hash: bytes
    dispute_deadline: int
    model_hash: str | None = None
    metrics: dict[str, float] | None = None
    job: dict[str, Any] | None = None


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
        entry = CatalogDataset(
            listing_id=0,  # not known before the transaction
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
        # Durable before the listing exists, so a crash in between never loses its key.
        self.catalog.add_pending(entry)
        listing_id = self.market.create_listing(
            self.account,
            commitment=sealed.commitment,
            key_hash=key_hash(sealed.key),
            license_hash=hashlib.sha256(license_text.encode()).digest(),
            price=price,
            compute_price=compute_price,
            pool_id=pool_id,
        )
        self.catalog.list_pending(sealed.address, listing_id)
        return PublishedDataset(listing_id, sealed.commitment, release)

    def deliver_access(self, purchase_id: int, delivery_public_key: bytes) -> Delivery:
        """Post the dataset key, wrapped to the buyer's delivery key, for an escrowed purchase."""
        _, entry = self._escrowed(purchase_id, Kind.ACCESS, delivery_public_key)
        return self._deliver(
            purchase_id,
            Kind.ACCESS,
            entry.blob_address,
            self._dataset_key(entry),
            delivery_public_key,
            {},
        )

    def check_job(self, listing_id: int, job: ComputeJob) -> None:
        """Refuse ``job`` on the listing's dataset before the buyer pays for it.

        Raises ``InvalidInputError`` naming what is wrong (the target, too few rows of a
        class...), ``NotFoundError`` if the listing is not in this seller's catalog.
        """
        entry = self.catalog.dataset(listing_id)
        check_job(open_dataset(self.store, entry.blob_address, self._dataset_key(entry)), job)

    def deliver_compute(
        self, purchase_id: int, job: ComputeJob, delivery_public_key: bytes
    ) -> Delivery:
        """Run ``job`` on the dataset of an escrowed compute purchase; post the model's key."""
        _, entry = self._escrowed(purchase_id, Kind.COMPUTE, delivery_public_key)
        frame = open_dataset(self.store, entry.blob_address, self._dataset_key(entry))
        result = run_job(frame, job)
        model_ref = self.store.put(result.model)
        detail = {
            "job": job.to_dict(),
            "metrics": result.metrics,
            "model_hash": result.model_hash,
            "features": list(result.features),
            "n_train": result.n_train,
            "n_test": result.n_test,
        }
        return self._deliver(
            purchase_id, Kind.COMPUTE, model_ref.address, model_ref.key, delivery_public_key, detail
        )

    def settle(self, purchase_id: int, signature: bytes | None = None) -> Settlement:
        """Release a delivered purchase's escrow and record the payment on the log.

        With the buyer's signed acknowledgement this pays at once; without it, once the
        dispute window has passed (``RevertError`` "settle: dispute window not passed"
        before). The log record holds the listing's commitment, the buyer, the amount,
        the fee and what was delivered (for a job: estimator, parameters, model hash
        and metrics); never a row of data.
        """
        if signature is None:
            receipt = self.market.settle(self.account, purchase_id)
        else:
            receipt = self.market.acknowledge_delivery(self.account, purchase_id, signature)
        recorded = self.record_payments()
        return Settlement(purchase_id, receipt.tx_hash, receipt.gas_used, recorded.get(purchase_id))

    def record_payments(self) -> dict[int, int]:
        """Record on the log every payment of this catalog's listings it still lacks.

        Returns the leaf index of each recorded purchase; empty without a log.
        """
        if self.log is None:
            return {}
        return record_payments(self.market, self.catalog, self.log)

    def _deliver(
        self,
        purchase_id: int,
        kind: Kind,
        blob_address: str,
        key: bytes,
        delivery_public_key: bytes,
        detail: dict[str, Any],
    ) -> Delivery:
        wrapped = wrap_key_for(
            key, delivery_public_key, self.market.chain.chain_id, self.market.address, purchase_id
        )
        detail = {
            **detail,
            "ephemeral_x": hex(wrapped.ephemeral_x),
            "ephemeral_odd": wrapped.ephemeral_odd,
        }
        # Durable before the key goes on chain, so a job's record can be rebuilt after a crash.
        entry = CatalogDelivery(
            purchase_id, kind.name.lower(), blob_address, wrapped.wrapped, detail, None
        )
        self.catalog.add_delivery(entry)
        content = bytes.fromhex(blob_address)
        self.market.deliver(self.account, purchase_id, wrapped, content, key_hash(key))
        posted = self.market.delivered(purchase_id)
        return Delivery(
            purchase_id,
            kind,
            blob_address,
            wrapped,
            posted.key_hash,
            posted.delivery_hash,
            posted.dispute_deadline,
            model_hash=detail.get("model_hash"),
            metrics=detail.get("metrics"),
            job=detail.get("job"),
        )

    def _escrowed(self, purchase_id: int, kind: Kind, delivery_public_key: bytes):
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
        owner = key_address(delivery_public_key)
        if owner != purchase.delivery_key:
            raise UnauthorizedError(
                f"public_key: is the key of {owner}, expected the purchase's delivery key "
                f"{purchase.delivery_key}",
                field="public_key",
            )
        # A dispute of another purchase with the same key would reveal this key to everyone.
        if self.market.delivery_keys_of(purchase.buyer).count(owner) > 1:
            raise UnauthorizedError(
                f"purchase {purchase_id}: delivery key {owner} is used by another purchase; "
                "the buyer must buy again with a fresh key",
                field="delivery_key",
            )
        return purchase, self.catalog.dataset(purchase.listing_id)

    def _dataset_key(self, entry: CatalogDataset) -> bytes:
        return unseal_key(SealedKey(entry.blob_address, entry.owner_wrapped_key), self.account)


class DataBuyer:
    """The side that pays: buys, opens what is delivered, acknowledges or disputes it."""

    def __init__(self, market: DataMarket, account: LocalAccount, store: BlobStore) -> None:
        self.market = market
        self.account = account
        self.store = store

    @property
    def public_key(self) -> bytes:
        """The compressed public key of the buyer's account."""
        return public_key_of_account(self.account)

    def buy_access(self, listing_id: int, *, max_price: int | None = None) -> int:
        """Pay the access price into escrow (by permit); return the purchase id.

        ``max_price`` defaults to the price read now: a price raised in between reverts.
        """
        return self._buy(listing_id, Kind.ACCESS, max_price)

    def order_compute(self, listing_id: int, *, max_price: int | None = None) -> int:
        """Pay the compute price into escrow (by permit); return the purchase id."""
        return self._buy(listing_id, Kind.COMPUTE, max_price)

    def delivery_public_key(self, purchase_id: int) -> bytes:
        """The public delivery key of a purchase, for the seller to wrap the key to."""
        return public_key_of_secret(self._secret(self.market.purchase(purchase_id).delivery_key))

    def receive_dataset(self, purchase_id: int) -> tuple[pd.DataFrame, bytes]:
        """Open a delivered dataset and sign the acknowledgement.

        Raises ``IntegrityError`` if the posted key is not the committed one or does not
        open the listed blob: then :meth:`dispute` (within the window) gets the money back.
        """
        purchase = self.market.purchase(purchase_id)
        listing = self.market.listing(purchase.listing_id)
        delivered = self.market.delivered(purchase_id)
        if delivered.content != listing.commitment:
            raise IntegrityError(
                f"delivery: content {delivered.content.hex()} is not the listed dataset "
                f"{listing.commitment.hex()}",
                field="content",
            )
        key = self._opened_key(purchase_id, delivered)
        frame = open_dataset(self.store, delivered.content.hex(), key)
        return frame, self._acknowledgement(purchase_id, delivered.delivery_hash)

    def receive_model(self, purchase_id: int, model_hash: str) -> tuple[BaseEstimator, bytes]:
        """Open a delivered model, check it is ``model_hash``, load it safely, sign.

        The model is a skops file rebuilt from an allow-list of types: a payload that is
        anything else (a pickle, a foreign type) raises ``IntegrityError`` unexecuted.
        """
        delivered = self.market.delivered(purchase_id)
        key = self._opened_key(purchase_id, delivered)
        model_bytes = self.store.get(delivered.content.hex(), key)
        if hashlib.sha256(model_bytes).hexdigest() != model_hash:
            raise IntegrityError("delivery: the model does not match its hash", field="model")
        model = load_model(model_bytes)
        return model, self._acknowledgement(purchase_id, delivered.delivery_hash)

    def dispute(self, purchase_id: int) -> int:
        """Prove on chain that the delivered key is not the committed one; return the refund."""
        delivered = self.market.delivered(purchase_id)
        secret = self._secret(self._delivery_key_of(purchase_id))
        return self.market.dispute(self.account, delivered, secret)

    def _buy(self, listing_id: int, kind: Kind, max_price: int | None) -> int:
        chain_id, market = self.market.chain.chain_id, self.market.address
        used = self.market.delivery_keys_of(self.account.address)
        index = next_delivery_index(used, self.account, chain_id, market)
        secret = delivery_secret(self.account, chain_id, market, index)
        return self.market.buy(
            self.account,
            listing_id,
            kind,
            delivery_key=key_address(public_key_of_secret(secret)),
            max_price=max_price,
        )

    def _delivery_key_of(self, purchase_id: int) -> str:
        # Storage drops the delivery key once delivered; the purchase's event keeps it.
        return self.market.purchase_event(purchase_id).args["delivery_key"]

    def _secret(self, delivery_key: str) -> int:
        tries = len(self.market.delivery_keys_of(self.account.address)) + 1
        return find_delivery_secret(
            self.account, self.market.chain.chain_id, self.market.address, delivery_key, tries
        )

    def _opened_key(self, purchase_id: int, delivered) -> bytes:
        secret = self._secret(self._delivery_key_of(purchase_id))
        key = unwrap_key(
            delivered.wrapped, secret, self.market.chain.chain_id, self.market.address, purchase_id
        )
        if key_hash(key) != delivered.key_hash:
            raise IntegrityError(
                f"delivery: the key posted for purchase {purchase_id} is not the committed one; "
                "dispute it before the window closes",
                field="wrapped_key",
            )
        return key

    def _acknowledgement(self, purchase_id: int, delivery_hash: bytes) -> bytes:
        return self.market.sign_delivery(self.account, purchase_id, delivery_hash)
