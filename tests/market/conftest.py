"""A platform on a fresh embedded chain with the DataMarket deployed, a seller and two buyers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount

from ailedger.core.log import TransparencyLog
from ailedger.core.storage import BlobStore, open_blob_store
from ailedger.market.catalog import Catalog, open_catalog
from ailedger.market.contract import DataMarket, open_market
from ailedger.market.service import DataBuyer, DataSeller
from ailedger.platform import Platform

ALT = 10**18
GAS_WEI = 10**18


@dataclass
class MarketWorld:
    platform: Platform
    market: DataMarket
    store: BlobStore
    catalog: Catalog
    log: TransparencyLog
    seller: DataSeller
    buyer: DataBuyer
    other: DataBuyer

    @property
    def operator(self) -> LocalAccount:
        return self.platform.operator


@pytest.fixture
def world(settings) -> Iterator[MarketWorld]:
    with Platform.open(settings) as platform:
        platform.deploy_core_contracts()
        market = open_market(platform, deploy_if_missing=True)
        hospital = platform.account("hospital", create=True, fund_wei=GAS_WEI)
        buyers = []
        for name in ("lab-a", "lab-b"):
            account = platform.account(name, create=True, fund_wei=GAS_WEI)
            market.token.mint(account.address, 1_000 * ALT, sender=platform.operator)
            buyers.append(account)
        store = open_blob_store(settings)
        catalog = open_catalog(settings, platform.chain.chain_id, market.address)
        log = platform.open_log("market")
        try:
            yield MarketWorld(
                platform,
                market,
                store,
                catalog,
                log,
                DataSeller(market, hospital, store, catalog, log),
                DataBuyer(market, buyers[0], store),
                DataBuyer(market, buyers[1], store),
            )
        finally:
            log.close()
            catalog.close()
