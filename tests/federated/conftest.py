"""Federated fixtures: a small split, its model, hospitals with keys, a train message."""

from __future__ import annotations

import pytest
from eth_account import Account
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from ailedger.federated.apps import (
    CHAIN_KEY,
    JOB_KEY,
    MODEL_KEY,
    POOL_KEY,
    Behaviour,
    Hospital,
)
from ailedger.federated.commitments import federated_domain
from ailedger.federated.data import FederatedData, split_hospitals
from ailedger.federated.encoding import to_record
from ailedger.federated.model import LogisticModel
from ailedger.federated.participation import RoundContext

CHAIN_ID = 31337
POOL = "0x" + "ab" * 20
JOB_ID = 7
MODEL_ID = b"\x11" * 32


@pytest.fixture(scope="session")
def data() -> FederatedData:
    return split_hospitals("breast-cancer", [0.0, 0.0, 0.2, 0.0], seed=1)


@pytest.fixture(scope="session")
def model(data) -> LogisticModel:
    return LogisticModel(data.n_features, data.classes)


@pytest.fixture(scope="session")
def hospitals(data) -> list[Hospital]:
    behaviours = [Behaviour.HONEST, Behaviour.HONEST, Behaviour.FREE_RIDER, Behaviour.POISONER]
    return [
        Hospital(f"h{i}", Account.from_key(bytes([i + 1]) * 32), part, behaviour)
        for i, (part, behaviour) in enumerate(zip(data.hospitals, behaviours, strict=True))
    ]


@pytest.fixture
def round_context(hospitals, model) -> RoundContext:
    return RoundContext(
        JOB_ID,
        MODEL_ID,
        1,
        federated_domain(CHAIN_ID, POOL),
        frozenset(h.account.address for h in hospitals),
        model.shapes,
    )


@pytest.fixture
def train_message(model):
    """A round-1 train message to node ``node_id``, as a ServerApp would send it."""
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 1

    def make(node_id: int = 2, round_number: int = 1) -> Message:
        config = ConfigRecord(
            {
                "server-round": round_number,
                JOB_KEY: JOB_ID,
                MODEL_KEY: MODEL_ID,
                CHAIN_KEY: CHAIN_ID,
                POOL_KEY: POOL,
            }
        )
        content = RecordDict({"arrays": to_record(model.initial()), "config": config})
        message = Message(content, node_id, "train")
        message.metadata.__dict__["_message_id"] = f"m{node_id}"
        return message

    return make


def node_context(node_id: int) -> Context:
    return Context(1, node_id, {}, RecordDict(), {})


def run_small_job(home, job):
    """Run ``job`` on a fresh embedded chain in ``home`` (cheap keystore); return both."""
    from ailedger.config import Settings
    from ailedger.federated import run_job
    from ailedger.platform import Platform

    settings = Settings(home=home, keystore_scrypt_n=2**4, password="pw")
    with Platform.open(settings) as platform:
        summary = run_job(platform, job)
    return settings, summary
