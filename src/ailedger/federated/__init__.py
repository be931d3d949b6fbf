"""Federated learning on Flower with participation on the log, fair scores and ALT rewards.

Public API::

    run_job(platform, JobSettings(clients=demo_clients(8), strategy="median")) -> JobSummary
    JobSettings, ClientSpec, Behaviour, demo_clients, STRATEGIES
    RoundLedger          # the server's per-round bookkeeping (screen, score, record, reward)
    client_app, server_app, LedgerStrategy, InProcessGrid, make_strategy   # Flower roles
    UpdateCommitment, federated_domain                                      # signed updates
    gtg_shapley                                                             # scores
    RewardPool, RewardTree, allocate, deploy_reward_pool                    # rewards
    read_job(records) -> list of a job's records from the ``fl`` log
"""

from ailedger.federated.apps import (
    STRATEGIES,
    Behaviour,
    Hospital,
    InProcessGrid,
    LedgerStrategy,
    client_app,
    make_strategy,
    server_app,
)
from ailedger.federated.commitments import UpdateCommitment, federated_domain
from ailedger.federated.job import (
    LOG_NAME,
    ClientSpec,
    JobSettings,
    JobSummary,
    RoundLedger,
    demo_clients,
    run_job,
)
from ailedger.federated.rewards import RewardPool, RewardTree, allocate, deploy_reward_pool
from ailedger.federated.scores import gtg_shapley

__all__ = [
    "LOG_NAME",
    "STRATEGIES",
    "Behaviour",
    "ClientSpec",
    "Hospital",
    "InProcessGrid",
    "JobSettings",
    "JobSummary",
    "LedgerStrategy",
    "RewardPool",
    "RewardTree",
    "RoundLedger",
    "UpdateCommitment",
    "allocate",
    "client_app",
    "demo_clients",
    "deploy_reward_pool",
    "federated_domain",
    "gtg_shapley",
    "make_strategy",
    "run_job",
    "server_app",
]
