"""Shared fixtures of the audit tests.

The credit model is trained once per session; each test gets its own embedded
chain, AnchorRegistry, anchored log and decision table in a fresh data dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ailedger import contracts
from ailedger.audit.audited import AuditedModel
from ailedger.audit.credit import TrainedCreditModel, train_credit_model
from ailedger.audit.german_credit import MODEL_FEATURES, CreditData, load_german_credit
from ailedger.audit.index import DecisionIndex
from ailedger.audit.scenario import open_decision_index
from ailedger.core.chain import Contract, EmbeddedChain, deploy, dev_accounts
from ailedger.core.log import Anchorer, TransparencyLog, open_store


@pytest.fixture(scope="session")
def credit_data() -> CreditData:
    return load_german_credit()


@pytest.fixture(scope="session")
def trained(credit_data) -> TrainedCreditModel:
    return train_credit_model(credit_data)


@pytest.fixture
def application(credit_data) -> dict:
    """The first applicant of the data set, as the model's input (Python types)."""
    row = credit_data.features.iloc[0]
    return {
        name: row[name].item() if hasattr(row[name], "item") else row[name]
        for name in MODEL_FEATURES
    }


# -- an embedded chain with an AnchorRegistry and an anchored decision log ----------------

FIXED_NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
AUDITOR_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


@pytest.fixture
def auditor_key() -> bytes:
    """The auditor's secp256k1 private key."""
    return AUDITOR_KEY


@pytest.fixture
def fixed_now() -> datetime:
    """The time the ``audited`` fixture's clock always shows."""
    return FIXED_NOW


@pytest.fixture
def chain(settings) -> Iterator[EmbeddedChain]:
    chain = EmbeddedChain(settings.chain_dir)
    yield chain
    chain.close()


@pytest.fixture
def accounts():
    """admin (deploys, pays for anchors, operates the model), log signer, an outsider."""
    return dev_accounts(3)


@pytest.fixture
def registry(chain, accounts) -> Contract:
    artifact = contracts.load("AnchorRegistry")
    return deploy(chain, artifact.abi, artifact.bytecode, sender=accounts[0])


@pytest.fixture
def log(settings, registry, accounts) -> Iterator[TransparencyLog]:
    admin, signer, _ = accounts
    anchorer = Anchorer.register(registry, "decisions", admin=admin, signer=signer)
    # A fixed clock: batches close only when a test closes them, never by elapsed time.
    log = TransparencyLog(open_store(settings), anchorer=anchorer, clock=lambda: 1.7e9)
    yield log
    log.close()


@pytest.fixture
def index(settings) -> Iterator[DecisionIndex]:
    with open_decision_index(settings) as index:
        yield index


@pytest.fixture
def audited(trained, log, index, accounts) -> AuditedModel:
    return AuditedModel(
        trained.estimator,
        trained.card,
        log,
        operator=accounts[0],
        threshold=0.6,
        index=index,
        clock=lambda: FIXED_NOW,
    )


@pytest.fixture
def applications(credit_data) -> list[dict]:
    """Five applicants of the data set as model inputs."""
    rows = credit_data.features[list(MODEL_FEATURES)].iloc[:5].to_dict("records")
    return [{k: v.item() if hasattr(v, "item") else v for k, v in row.items()} for row in rows]
