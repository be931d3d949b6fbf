"""One federated training job end to end: hospitals, rounds on Flower, the `fl` log, rewards.

:class:`RoundLedger` is the server's bookkeeping: it screens each round's
replies (:mod:`.participation`), appends one participation record per reply
and then the round record (global-model hash, metrics, Shapley and
leave-one-out scores, reward amounts and their Merkle root) to the ``fl``
transparency log as canonical JSON, and posts the round's root to
``RewardPool``. :func:`run_job` sets a job up on a platform (hospital keys,
pool, funding, the job record), runs the ServerApp, lets every hospital claim
what it earned, and anchors the log once at the end (one anchor transaction
for the whole job, like the audit log's batches).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from flwr.app import ConfigRecord, Message
from flwr.serverapp import Grid

from ailedger.core.identity import Domain, canonical_json
from ailedger.core.log import TransparencyLog
from ailedger.errors import InvalidInputError
from ailedger.federated.apps import (
    CHAIN_KEY,
    JOB_KEY,
    MODEL_KEY,
    POOL_KEY,
    STRATEGIES,
    Behaviour,
    Hospital,
    LedgerStrategy,
    client_app,
    make_strategy,
    quiet_flower,
    run_in_process,
    server_app,
)
from ailedger.federated.commitments import federated_domain
from ailedger.federated.data import FederatedData, split_hospitals
from ailedger.federated.encoding import parameters_hash, to_record
from ailedger.federated.model import MODELS, Arrays, Model, make_model
from ailedger.federated.participation import Accepted, Rejected, RoundContext, screen
from ailedger.federated.rewards import RewardPool, RewardTree, allocate, deploy_reward_pool
from ailedger.federated.scores import fedavg_steps, gtg_shapley

if TYPE_CHECKING:
    from ailedger.platform import Platform

__all__ = [
    "ALT",
    "LOG_NAME",
    "ClientSpec",
    "JobSettings",
    "JobSummary",
    "RoundLedger",
    "RoundSummary",
    "demo_clients",
    "run_job",
    "train",
]

ALT = 10**18
LOG_NAME = "fl"
HOSPITAL_FUNDING_WEI = 10**18
_DIGITS = 6


@dataclass(frozen=True)
class ClientSpec:
    """A hospital of a job: its keystore name, behaviour and share of flipped labels."""

    name: str
    behaviour: Behaviour = Behaviour.HONEST
    label_noise: float = 0.0


@dataclass(frozen=True)
class JobSettings:
    """What a job trains, how, for how long and for how much."""

    clients: tuple[ClientSpec, ...]
    task: str = "breast-cancer"
    model: str = "logistic-regression"
    strategy: str = "fedavg"
    rounds: int = 3
    budget: int = 300 * ALT
    seed: int = 0
    expected_malicious: int = 1  # what Krum and MultiKrum are told to withstand

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise InvalidInputError(
                f"model: expected one of {list(MODELS)}, got {self.model!r}", field="model"
            )
        if self.strategy not in STRATEGIES:
            raise InvalidInputError(
                f"strategy: expected one of {list(STRATEGIES)}, got {self.strategy!r}",
                field="strategy",
            )
        if self.rounds < 1:
            raise InvalidInputError(f"rounds: expected >= 1, got {self.rounds}", field="rounds")
        if self.budget < self.rounds:
            raise InvalidInputError(
                f"budget: expected at least one wei per round, got {self.budget}", field="budget"
            )
        names = [c.name for c in self.clients]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"clients: names repeat in {names}", field="clients")


def demo_clients(n: int = 8) -> tuple[ClientSpec, ...]:
    """``n`` hospitals: honest ones with growing label noise, one free-rider, one poisoner."""
    honest = n - 2
    return (
        *(
            ClientSpec(f"hospital-{i + 1}", label_noise=round(0.4 * i / max(1, honest - 1), 2))
            for i in range(honest)
        ),
        ClientSpec(f"hospital-{honest + 1}", Behaviour.FREE_RIDER),
        ClientSpec(f"hospital-{honest + 2}", Behaviour.POISONER),
    )


@dataclass(frozen=True)
class RoundSummary:
    """One round as the `fl` log records it."""

    round_number: int
    global_model_hash: bytes
    accuracy: float
    validation_loss: float
    accepted: list[str]
    rejected: list[Rejected]
    shapley: dict[str, float]
    leave_one_out: dict[str, float]
    rewards: dict[str, int]
    reward_root: bytes | None
    carried: int
    scoring_seconds: float

    def record(self, job_id: int, strategy: str) -> dict[str, Any]:
        """The round record of the ``fl`` log."""
        return {
            "kind": "fl.round",
            "job_id": job_id,
            "round": self.round_number,
            "strategy": strategy,
            "global_model_hash": "0x" + self.global_model_hash.hex(),
            "metrics": {"accuracy": self.accuracy, "validation_loss": self.validation_loss},
            "accepted": self.accepted,
            "rejected": len(self.rejected),
            "shapley": self.shapley,
            "leave_one_out": self.leave_one_out,
            "rewards": {client: str(amount) for client, amount in self.rewards.items()},
            "reward_root": "0x" + self.reward_root.hex() if self.reward_root else None,
            "carried": str(self.carried),
        }


class RoundLedger:
    """The server's bookkeeping for one job (a ``RoundSink`` of :class:`LedgerStrategy`)."""

    def __init__(
        self,
        *,
        job_id: int,
        model_id: bytes,
        domain: Domain,
        registered: dict[str, str],
        model: Model,
        data: FederatedData,
        settings: JobSettings,
        log: TransparencyLog,
        pool: RewardPool | None = None,
        server: LocalAccount | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.job_id = job_id
        self.model_id = model_id
        self.domain = domain
        self.registered = registered
        self.model = model
        self.data = data
        self.strategy = settings.strategy
        self.log = log
        self.pool = pool
        self.server = server
        self._clock = clock or time.perf_counter
        rounds, budget = settings.rounds, settings.budget
        self._round_budget = budget // rounds
        self._leftover = budget - self._round_budget * rounds  # goes to the last round
        self._rounds = rounds
        self._carried = 0
        self._accepted: dict[int, list[Accepted]] = {}
        self._rejected: dict[int, list[Rejected]] = {}
        self.rounds: list[RoundSummary] = []
        self.trees: dict[int, RewardTree] = {}

    def train_config(self) -> ConfigRecord:
        """The job binding every commitment carries."""
        return ConfigRecord(
            {
                JOB_KEY: self.job_id,
                MODEL_KEY: self.model_id,
                CHAIN_KEY: self.domain.chain_id,
                POOL_KEY: self.domain.verifying_contract or "",
            }
        )

    def screen(self, round_number: int, replies: Sequence[Message]) -> list[Message]:
        """Check every reply, record each as accepted or rejected, return the accepted ones."""
        context = RoundContext(
            self.job_id,
            self.model_id,
            round_number,
            self.domain,
            frozenset(self.registered),
            self.model.shapes,
        )
        accepted, rejected = screen(replies, context)
        self._accepted[round_number] = accepted
        self._rejected[round_number] = rejected
        self.log.append_many(
            [canonical_json(a.record()) for a in accepted]
            + [canonical_json(r.record(self.job_id, round_number)) for r in rejected]
        )
        return [a.message for a in accepted]

    def close_round(self, round_number: int, previous: Arrays, aggregated: Arrays) -> None:
        """Score the accepted updates, record the round, post its reward root."""
        accepted = self._accepted.pop(round_number, [])
        started = self._clock()
        shapley, loo = self._scores(accepted, previous)
        scoring_seconds = self._clock() - started
        budget = self._round_budget + self._carried
        if round_number == self._rounds:
            budget += self._leftover
        rewards = allocate(round_number, budget, shapley)
        root = None
        if rewards.amounts:
            tree = RewardTree(self.job_id, rewards)
            self.trees[round_number] = tree
            root = tree.root
            if self.pool is not None and self.server is not None:
                self.pool.post_round(self.server, tree)
        self._carried = rewards.carried
        summary = RoundSummary(
            round_number,
            parameters_hash(aggregated),
            round(self.model.accuracy(aggregated, self.data.X_test, self.data.y_test), _DIGITS),
            round(
                self.model.loss(aggregated, self.data.X_validation, self.data.y_validation), _DIGITS
            ),
            [a.commitment.client for a in accepted],
            self._rejected.pop(round_number, []),
            shapley,
            loo,
            rewards.amounts,
            root,
            rewards.carried,
            scoring_seconds,
        )
        self.rounds.append(summary)
        self.log.append(canonical_json(summary.record(self.job_id, self.strategy)))

    def _scores(
        self, accepted: list[Accepted], previous: Arrays
    ) -> tuple[dict[str, float], dict[str, float]]:
        if not accepted:
            return {}, {}
        # Replies arrive in the order Flower sampled the nodes; score in a fixed order so
        # the Monte-Carlo sample (seeded by the job) is the same on every rerun.
        accepted = sorted(accepted, key=lambda a: a.commitment.client)
        coalition_model = fedavg_steps(
            previous, [a.arrays for a in accepted], [a.commitment.num_examples for a in accepted]
        )
        X, y = self.data.X_validation, self.data.y_validation

        def utility(members: frozenset[int]) -> float:
            return -self.model.loss(coalition_model(members), X, y)

        report = gtg_shapley(utility, len(accepted), seed=self.job_id)
        clients = [a.commitment.client for a in accepted]
        return (
            {c: round(v, _DIGITS) for c, v in zip(clients, report.shapley, strict=True)},
            {c: round(v, _DIGITS) for c, v in zip(clients, report.leave_one_out, strict=True)},
        )


@dataclass(frozen=True)
class JobSummary:
    """What a job did: its rounds, what each hospital earned and claimed, the log's anchor."""

    job_id: int
    pool: str
    model_id: bytes
    settings: JobSettings
    hospitals: dict[str, str]  # name -> address
    rounds: list[RoundSummary]
    claimed: dict[str, int]  # name -> ALT wei claimed on chain
    true_quality: dict[str, float]  # name -> what scores should rank
    log_size: int
    anchored: bool

    def total_scores(self) -> dict[str, float]:
        """Each hospital's Shapley scores summed over rounds."""
        by_address = {address: name for name, address in self.hospitals.items()}
        totals = dict.fromkeys(self.hospitals, 0.0)
        for summary in self.rounds:
            for client, value in summary.shapley.items():
                totals[by_address[client]] += value
        return totals


def model_id_for(task: str, model: Model, pool: str, job_id: int) -> bytes:
    """The job's model id: a hash of what the model is and which job trains it."""
    description = {
        "task": task,
        "model": model.name,
        "classes": [int(c) for c in model.classes],
        "features": model.n_features,
        "pool": pool,
        "job_id": job_id,
    }
    return hashlib.sha256(canonical_json(description)).digest()


def train(
    ledger: RoundLedger,
    hospitals: Sequence[Hospital],
    settings: JobSettings,
    *,
    clients: Callable[[list[Hospital], Model], list[Any]] | None = None,
    grid: Grid | None = None,
) -> None:
    """Run the job's rounds on Flower, ``ledger`` accounting for each.

    Without ``grid``, in this process (the hospitals' ClientApps called directly);
    with the ``grid`` Flower's deployment runtime hands a ServerApp, on SuperNodes.
    """
    inner = make_strategy(settings.strategy, len(hospitals), settings.expected_malicious)
    strategy = LedgerStrategy(inner, ledger)
    model = ledger.model
    if grid is not None:
        with quiet_flower():
            strategy.start(
                grid=grid, initial_arrays=to_record(model.initial()), num_rounds=settings.rounds
            )
        return
    apps = clients(list(hospitals), model) if clients else [client_app(h, model) for h in hospitals]
    run_in_process(server_app(strategy, model.initial(), settings.rounds), apps)


def run_job(
    platform: Platform,
    settings: JobSettings,
    *,
    progress: Callable[[str], None] = lambda _message: None,
    clients: Callable[[list[Hospital], Model], list[Any]] | None = None,
    claim: bool = True,
    grid: Grid | None = None,
) -> JobSummary:
    """Run a whole job on ``platform``: set up, train on Flower in process, reward, claim, anchor.

    ``clients`` builds the ClientApps from the hospitals (default: one honest-or-not
    :func:`client_app` each); tests use it to add misbehaving clients. With
    ``claim=False`` the hospitals claim later themselves (`ailedger fl claim`). With
    ``grid`` (from Flower's deployment runtime) the rounds go to SuperNodes instead.
    """
    progress("splitting the data across hospitals")
    data = split_hospitals(
        settings.task, [c.label_noise for c in settings.clients], seed=settings.seed
    )
    model = make_model(settings.model, data.n_features, data.classes)
    progress("opening hospital keys")
    accounts = {
        c.name: platform.account(c.name, create=True, fund_wei=HOSPITAL_FUNDING_WEI)
        for c in settings.clients
    }
    hospitals = [
        Hospital(c.name, accounts[c.name], hospital_data, c.behaviour)
        for c, hospital_data in zip(settings.clients, data.hospitals, strict=True)
    ]
    progress("deploying the reward pool and funding the job")
    pool = deploy_reward_pool(platform)
    operator = platform.operator
    pool.token.mint(operator.address, settings.budget, sender=operator)
    job_id = pool.create_job(operator, operator.address, settings.budget)
    model_id = model_id_for(settings.task, model, pool.address, job_id)
    domain = federated_domain(platform.chain.chain_id, pool.address)
    registered = {account.address: name for name, account in accounts.items()}
    log = platform.open_log(LOG_NAME)
    try:
        log.append(
            canonical_json(
                {
                    "kind": "fl.job",
                    "job_id": job_id,
                    "pool": pool.address,
                    "model_id": "0x" + model_id.hex(),
                    "task": settings.task,
                    "strategy": settings.strategy,
                    "rounds": settings.rounds,
                    "budget": str(settings.budget),
                    "clients": {address: name for address, name in registered.items()},
                }
            )
        )
        ledger = RoundLedger(
            job_id=job_id,
            model_id=model_id,
            domain=domain,
            registered=registered,
            model=model,
            data=data,
            settings=settings,
            log=log,
            pool=pool,
            server=operator,
        )
        progress(f"training {settings.rounds} rounds with {settings.strategy} on Flower")
        train(ledger, hospitals, settings, clients=clients, grid=grid)
        claimed = dict.fromkeys(accounts, 0)
        for tree in ledger.trees.values() if claim else ():
            progress(f"hospitals claiming their rewards of round {tree.rewards.round_number}")
            for name, account in accounts.items():
                if account.address in tree.rewards.amounts:
                    pool.claim(account, tree)
                    claimed[name] += tree.rewards.amounts[account.address]
        progress("anchoring the fl log")
        anchored = log.close_batch() is not None
        size = log.size
    finally:
        log.close()
    return JobSummary(
        job_id,
        pool.address,
        model_id,
        settings,
        {name: account.address for name, account in accounts.items()},
        ledger.rounds,
        claimed,
        {
            h.name: (h.data.true_quality if h.behaviour is Behaviour.HONEST else 0.0)
            for h in hospitals
        },
        size,
        anchored,
    )
