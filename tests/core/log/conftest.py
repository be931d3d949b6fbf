"""Log fixtures: every store test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount

from ailedger.contracts import load
from ailedger.core.chain import Contract, EmbeddedChain, deploy, dev_accounts
from ailedger.core.log import Anchorer, LogStore, PostgresStore, SqliteStore
from tests.conftest import require_service

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    if request.param == "postgres":
        require_service("PostgreSQL", "127.0.0.1", 5432)
    return request.param


@pytest.fixture
def open_store(backend, tmp_path) -> Iterator[Callable[[], LogStore]]:
    """Opens (and reopens) one store of the current backend; drops it afterwards."""
    schema = f"test_log_{uuid.uuid4().hex[:12]}"
    opened: list[LogStore] = []

    def _open() -> LogStore:
        if backend == "sqlite":
            store: LogStore = SqliteStore(tmp_path / "log.sqlite3")
        else:
            store = PostgresStore(POSTGRES_URL, schema=schema)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()
    if backend == "postgres":
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def store(open_store) -> LogStore:
    return open_store()


@dataclass
class Registry:
    """An AnchorRegistry on a fresh embedded chain, with the accounts that use it."""

    chain: EmbeddedChain
    contract: Contract
    admin: LocalAccount
    signer: LocalAccount
    other: LocalAccount

    def anchorer(self, name: str = "decisions") -> Anchorer:
        return Anchorer.register(self.contract, name, admin=self.admin, signer=self.signer)


@pytest.fixture
def registry(tmp_path) -> Iterator[Registry]:
    chain = EmbeddedChain(tmp_path / "chain")
    admin, signer, other = dev_accounts(3)
    artifact = load("AnchorRegistry")
    contract = deploy(chain, artifact.abi, artifact.bytecode, sender=admin)
    yield Registry(chain, contract, admin, signer, other)
    chain.close()
