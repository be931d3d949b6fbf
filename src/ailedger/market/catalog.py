"""The seller's private catalog (SQLite): what the chain must not hold.

For each listed dataset: where its sealed blob is, its key wrapped to the
seller's own public key (the catalog never holds a key in the clear), the gate's
report and a differentially private summary. For each delivery: the key wrapped
to the buyer, waiting to be picked up, and for compute jobs the job and its
metrics. Rows are keyed by chain id and market address, so one data dir can
serve several deployments.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ailedger.config import Settings
from ailedger.core.storage.sqlite import SqliteFile
from ailedger.errors import NotFoundError

__all__ = ["Catalog", "CatalogDataset", "CatalogDelivery", "open_catalog"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    chain_id INTEGER NOT NULL,
    market TEXT NOT NULL,
    listing_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    blob_address TEXT NOT NULL,
    owner_wrapped_key BLOB NOT NULL,
    rows INTEGER NOT NULL,
    columns TEXT NOT NULL,
    license_text TEXT NOT NULL,
    gate_report TEXT NOT NULL,
    summary TEXT,
    PRIMARY KEY (chain_id, market, listing_id)
);
CREATE TABLE IF NOT EXISTS deliveries (
    chain_id INTEGER NOT NULL,
    market TEXT NOT NULL,
    purchase_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    blob_address TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    detail TEXT NOT NULL,
    leaf_index INTEGER,
    PRIMARY KEY (chain_id, market, purchase_id)
);
-- A dataset sealed and about to be listed: written before the listing transaction, so a
-- crash after it never loses the key of a listing (records.adopt_pending_listings).
CREATE TABLE IF NOT EXISTS pending_datasets (
    chain_id INTEGER NOT NULL,
    market TEXT NOT NULL,
    blob_address TEXT NOT NULL,
    dataset TEXT NOT NULL,
    PRIMARY KEY (chain_id, market, blob_address)
);
"""


@dataclass(frozen=True)
class CatalogDataset:
    listing_id: int
    title: str
    blob_address: str
    owner_wrapped_key: bytes
    rows: int
    columns: tuple[str, ...]
    license_text: str
    gate_report: dict[str, Any]
    summary: dict[str, Any] | None


@dataclass(frozen=True)
class CatalogDelivery:
    purchase_id: int
    kind: str  # "access" or "compute"
    blob_address: str
    wrapped_key: bytes  # as posted on chain: the key XOR the pad only the buyer derives
    detail: dict[str, Any]  # ephemeral key; compute: job, metrics, model hash
    leaf_index: int | None


class Catalog:
    """One SQLite file of seller-side facts for the market at ``(chain_id, market)``."""

    def __init__(self, path: Path, chain_id: int, market: str) -> None:
        self.path = path
        self._file = SqliteFile(path, "market catalog")
        # Autocommit: each write is one statement, committed (FULL: on disk) on return.
        self._db = self._file.connect()
        with self._file.guard():
            self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._key = (chain_id, market)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_dataset(self, dataset: CatalogDataset) -> None:
        with self._lock:
            self._insert_dataset(dataset)

    def _insert_dataset(self, dataset: CatalogDataset) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                *self._key,
                dataset.listing_id,
                dataset.title,
                dataset.blob_address,
                dataset.owner_wrapped_key,
                dataset.rows,
                json.dumps(list(dataset.columns)),
                dataset.license_text,
                json.dumps(dataset.gate_report),
                json.dumps(dataset.summary) if dataset.summary is not None else None,
            ),
        )

    def add_pending(self, dataset: CatalogDataset) -> None:
        """Keep a dataset about to be listed (its ``listing_id`` is not known yet)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO pending_datasets VALUES (?, ?, ?, ?)",
                (*self._key, dataset.blob_address, json.dumps(_dataset_json(dataset))),
            )

    def pending(self) -> list[CatalogDataset]:
        """Datasets written before their listing transaction and not yet listed here."""
        rows = self._db.execute(
            "SELECT dataset FROM pending_datasets WHERE chain_id = ? AND market = ?", self._key
        ).fetchall()
        return [_dataset_from_json(json.loads(row[0])) for row in rows]

    def list_pending(self, blob_address: str, listing_id: int) -> None:
        """Move a pending dataset to ``listing_id`` (one transaction; a no-op if not pending)."""
        with self._lock:
            row = self._db.execute(
                "SELECT dataset FROM pending_datasets "
                "WHERE chain_id = ? AND market = ? AND blob_address = ?",
                (*self._key, blob_address),
            ).fetchone()
            if row is None:
                return
            fields = {**json.loads(row[0]), "listing_id": listing_id}
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._insert_dataset(_dataset_from_json(fields))
                self._db.execute(
                    "DELETE FROM pending_datasets "
                    "WHERE chain_id = ? AND market = ? AND blob_address = ?",
                    (*self._key, blob_address),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def dataset(self, listing_id: int) -> CatalogDataset:
        """The catalog entry of a listing this seller published (``NotFoundError`` if none)."""
        row = self._db.execute(
            "SELECT listing_id, title, blob_address, owner_wrapped_key, rows, columns, "
            "license_text, gate_report, summary FROM datasets "
            "WHERE chain_id = ? AND market = ? AND listing_id = ?",
            (*self._key, listing_id),
        ).fetchone()
        if row is None:
            raise NotFoundError(
                f"listing {listing_id} is not in this seller's catalog", field="listing_id"
            )
        return _dataset(row)

    def datasets(self) -> list[CatalogDataset]:
        rows = self._db.execute(
            "SELECT listing_id, title, blob_address, owner_wrapped_key, rows, columns, "
            "license_text, gate_report, summary FROM datasets "
            "WHERE chain_id = ? AND market = ? ORDER BY listing_id",
            self._key,
        ).fetchall()
        return [_dataset(row) for row in rows]

    def add_delivery(self, delivery: CatalogDelivery) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *self._key,
                    delivery.purchase_id,
                    delivery.kind,
                    delivery.blob_address,
                    delivery.wrapped_key,
                    json.dumps(delivery.detail),
                    delivery.leaf_index,
                ),
            )

    def set_leaf_index(self, purchase_id: int, leaf_index: int) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET leaf_index = ? "
                "WHERE chain_id = ? AND market = ? AND purchase_id = ?",
                (leaf_index, *self._key, purchase_id),
            )

    def delivery(self, purchase_id: int) -> CatalogDelivery:
        row = self._db.execute(
            "SELECT purchase_id, kind, blob_address, wrapped_key, detail, leaf_index "
            "FROM deliveries WHERE chain_id = ? AND market = ? AND purchase_id = ?",
            (*self._key, purchase_id),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"purchase {purchase_id} has no delivery yet", field="purchase_id")
        return CatalogDelivery(row[0], row[1], row[2], bytes(row[3]), json.loads(row[4]), row[5])

    def deliveries(self) -> list[CatalogDelivery]:
        rows = self._db.execute(
            "SELECT purchase_id FROM deliveries WHERE chain_id = ? AND market = ? "
            "ORDER BY purchase_id",
            self._key,
        ).fetchall()
        return [self.delivery(row[0]) for row in rows]


def _dataset_json(dataset: CatalogDataset) -> dict[str, Any]:
    return {
        **dataset.__dict__,
        "owner_wrapped_key": dataset.owner_wrapped_key.hex(),
        "columns": list(dataset.columns),
    }


def _dataset_from_json(fields: dict[str, Any]) -> CatalogDataset:
    return CatalogDataset(
        **{
            **fields,
            "owner_wrapped_key": bytes.fromhex(fields["owner_wrapped_key"]),
            "columns": tuple(fields["columns"]),
        }
    )


def _dataset(row: tuple) -> CatalogDataset:
    return CatalogDataset(
        listing_id=row[0],
        title=row[1],
        blob_address=row[2],
        owner_wrapped_key=bytes(row[3]),
        rows=row[4],
        columns=tuple(json.loads(row[5])),
        license_text=row[6],
        gate_report=json.loads(row[7]),
        summary=json.loads(row[8]) if row[8] is not None else None,
    )


def open_catalog(settings: Settings, chain_id: int, market: str) -> Catalog:
    """The catalog in ``<home>/market/catalog.sqlite3``."""
    settings.ensure_home()
    return Catalog(settings.home / "market" / "catalog.sqlite3", chain_id, market)
