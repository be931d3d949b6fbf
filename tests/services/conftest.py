"""A platform with the services contracts, a registered diagnosis model and its host."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount

from ailedger.platform import Platform
from ailedger.services import (
    ClaimPolicy,
    LocalTransport,
    ModelListing,
    ServedModel,
    ServiceClient,
    ServiceContracts,
    ServiceHost,
    VoucherStore,
    deploy_service_contracts,
    diagnosis_model,
)
from ailedger.services.records import ConsumerRecords
from ailedger.services.runtime import call_log_id, open_consumer_records

ALT = 10**18
PRICE = 10**16
FUNDING_WEI = 10 * 10**18


@pytest.fixture(scope="session")
def model() -> ServedModel:
    """The diagnosis model, trained once per test session (deterministic)."""
    return diagnosis_model()


@dataclass
class Services:
    """Everything a paid call needs, on a fresh data dir."""

    platform: Platform
    contracts: ServiceContracts
    owner: LocalAccount
    consumer: LocalAccount
    listing: ModelListing
    model: ServedModel

    def host(self, **kwargs) -> ServiceHost:
        """A host of the diagnosis listing; keyword arguments override its parts."""
        settings = self.platform.settings
        path = settings.home / "services" / "diagnosis" / "vouchers.sqlite3"
        parts = {
            "model": self.model,
            "listing": self.contracts.registry.get(self.listing.model_id),
            "account": self.owner,
            "registry": self.contracts.registry,
            "channels": self.contracts.channels,
            "policy": ClaimPolicy(),
        }
        synchronous = kwargs.pop("synchronous", "FULL")
        parts.update(kwargs)
        parts.setdefault("log", self.platform.open_log("calls_diagnosis"))
        return ServiceHost(store=VoucherStore(path, synchronous=synchronous), **parts)

    def records(self, account: LocalAccount | None = None) -> ConsumerRecords:
        """The consumer's records in this data dir (every client of it shares them)."""
        address = (account or self.consumer).address
        return open_consumer_records(self.platform.settings, address)

    def client(
        self, host: ServiceHost, account: LocalAccount | None = None, transport=None
    ) -> ServiceClient:
        """A client of ``account`` (the consumer) reaching ``host`` in process, or through
        ``transport``."""
        return ServiceClient(
            account or self.consumer,
            self.contracts.registry,
            self.contracts.channels,
            records=self.records(account),
            transport_for=lambda _listing: transport or LocalTransport(host),
        )


@pytest.fixture
def services(settings, model) -> Iterator[Services]:
    with Platform.open(settings) as platform:
        contracts = deploy_service_contracts(platform)
        owner = platform.account("dana", create=True, fund_wei=FUNDING_WEI)
        consumer = platform.account("erin", create=True, fund_wei=FUNDING_WEI)
        contracts.token.mint(consumer.address, 100 * ALT, sender=platform.operator)
        listing = contracts.registry.register(
            owner,
            "diagnosis",
            model_hash=model.model_hash,
            card_hash=model.card_hash,
            price=PRICE,
            endpoint="http://127.0.0.1:8100",
            log_id=call_log_id(platform, "diagnosis"),
        )
        yield Services(platform, contracts, owner, consumer, listing, model)


@pytest.fixture
def host(services) -> Iterator[ServiceHost]:
    host = services.host()
    yield host
    host.close()


@pytest.fixture
def client(services, host) -> ServiceClient:
    return services.client(host)
