"""Where a data dir keeps its services, and how a published model is opened for serving.

Layout under ``<home>/services/``: ``models/<name>.pickle`` (published models),
``<name>/vouchers.sqlite3`` (each host's vouchers and claims),
``consumer/<address>.sqlite3`` (each consumer's records of what it signed and used).
Each host logs its calls in the transparency log ``calls_<name>`` of
:meth:`Platform.open_log`, the log the registry binds the model to.
"""

from __future__ import annotations

import re
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ailedger.config import Settings
from ailedger.core.log import BatchPolicy, log_name
from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError
from ailedger.platform import Platform
from ailedger.services.batches import MAX_BATCH
from ailedger.services.deployment import ServiceContracts
from ailedger.services.host import ClaimPolicy, ServiceHost
from ailedger.services.models import ServedModel, load_model, save_model
from ailedger.services.records import ConsumerRecords
from ailedger.services.registry import ModelListing
from ailedger.services.store import VoucherStore

__all__ = [
    "OWNER_KEY",
    "call_log_id",
    "check_service_name",
    "consumer_records_path",
    "log_name_for",
    "models_dir",
    "open_consumer_records",
    "open_host",
    "publish_model",
    "voucher_store_path",
]

OWNER_KEY = "model-owner"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")


def check_service_name(name: object) -> str:
    """A service name: 1-32 of ``a-z 0-9 _ . -`` (it names files and a log, too)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"name: expected 1-32 characters matching {_NAME.pattern}, got {name!r}", field="name"
        )
    return name


def models_dir(settings: Settings) -> Path:
    return settings.home / "services" / "models"


def voucher_store_path(settings: Settings, name: str) -> Path:
    return settings.home / "services" / _slug(name) / "vouchers.sqlite3"


def consumer_records_path(settings: Settings, address: str) -> Path:
    """Where a consumer account keeps its :class:`ConsumerRecords` (one file per account)."""
    return settings.home / "services" / "consumer" / f"{address}.sqlite3"


def open_consumer_records(settings: Settings, address: str) -> ConsumerRecords:
    """The consumer records of ``address`` in this data dir (created on first use)."""
    return ConsumerRecords(consumer_records_path(settings, address))


def log_name_for(name: str) -> str:
    """The transparency log of a model's calls (an identifier of at most 32 bytes)."""
    return ("calls_" + _slug(name))[:32]


def call_log_id(platform: Platform, name: str) -> bytes:
    """The AnchorRegistry id of the log of ``name``'s calls (the operator's ``calls_<name>``),
    which the registry binds the model to."""
    registry = platform.contract("AnchorRegistry")
    return registry.compute_log_id(platform.operator.address, log_name(log_name_for(name)))


def publish_model(
    platform: Platform,
    contracts: ServiceContracts,
    owner: LocalAccount,
    model: ServedModel,
    *,
    price: int,
    endpoint: str,
    name: str | None = None,
) -> tuple[ModelListing, bool]:
    """Save ``model`` in the data dir and register it; returns ``(listing, newly_registered)``.

    An entry of ``owner`` under ``name`` with the same model hash is reused (its
    price and endpoint updated if they differ); one with another hash raises
    :class:`IntegrityError`: publish the new model under another name.
    """
    name = check_service_name(name or model.name)
    registry = contracts.registry
    model_id = registry.model_id(owner.address, name)
    try:
        listing = registry.get(model_id)
    except NotFoundError:
        listing = None
    if listing is not None and listing.model_hash != model.model_hash:
        raise IntegrityError(
            f"name: {owner.address} already registered {name!r} for model hash "
            f"0x{listing.model_hash.hex()}, got 0x{model.model_hash.hex()}; use another name",
            field="name",
        )
    save_model(model, models_dir(platform.settings), name)
    if listing is None:
        listing = registry.register(
            owner,
            name,
            model_hash=model.model_hash,
            card_hash=model.card_hash,
            price=price,
            endpoint=endpoint,
            log_id=call_log_id(platform, name),
        )
        return listing, True
    if not listing.deprecated:
        if listing.price != price:
            registry.update_price(owner, model_id, price)
        if listing.endpoint != endpoint:
            registry.update_endpoint(owner, model_id, endpoint)
    return registry.get(model_id), False


def open_host(
    platform: Platform,
    contracts: ServiceContracts,
    owner: LocalAccount,
    name: str,
    *,
    model: ServedModel | None = None,
    policy: ClaimPolicy | None = None,
    synchronous: str = "NORMAL",
    max_batch: int = MAX_BATCH,
    batch: BatchPolicy | None = None,
) -> ServiceHost:
    """A host for ``owner``'s registered model ``name`` (loaded from the data dir if not given).

    The voucher store skips fsync by default (``synchronous="NORMAL"``): every
    answered call's voucher is also in the log, which fsyncs, and the host replays
    the log into the store when it opens (see :meth:`ServiceHost.recover`).
    ``batch`` is the call log's batch policy (how often calls are anchored).
    """
    check_service_name(name)
    listing = contracts.registry.get(contracts.registry.model_id(owner.address, name))
    if model is None:
        model = load_model(models_dir(platform.settings), name, listing.model_hash)
    store = VoucherStore(voucher_store_path(platform.settings, name), synchronous=synchronous)
    log = platform.open_log(log_name_for(name), batch)
    return ServiceHost(
        model=model,
        listing=listing,
        account=owner,
        registry=contracts.registry,
        channels=contracts.channels,
        store=store,
        log=log,
        policy=policy,
        max_batch=max_batch,
    )


def _slug(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name) or "model"
