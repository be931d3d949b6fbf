"""Flower's roles: the hospitals' ClientApp, the ServerApp, and an in-process Grid.

``client_app`` trains locally and signs a commitment to what it sends;
``LedgerStrategy`` wraps any of Flower's strategies (FedAvg, Krum, MultiKrum,
FedTrimmedAvg, FedMedian) so every round's replies are screened, recorded,
scored and rewarded by a :class:`RoundLedger`-like ``ledger`` before and after
the wrapped strategy aggregates them; ``server_app`` runs it. Nothing here
knows where it runs: :class:`InProcessGrid` delivers messages to ClientApps in
this process (the embedded default, the demo and the tests); Flower's
deployment runtime (SuperLink and SuperNodes) delivers the same messages
between processes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from eth_account.signers.local import LocalAccount
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Context,
    Error,
    Message,
    MetricRecord,
    RecordDict,
)
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import (
    FedAvg,
    FedMedian,
    FedTrimmedAvg,
    Krum,
    MultiKrum,
    Strategy,
)
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from ailedger.errors import InvalidInputError
from ailedger.federated.commitments import UpdateCommitment, federated_domain
from ailedger.federated.data import HospitalData
from ailedger.federated.encoding import from_record, parameters_hash, to_record
from ailedger.federated.model import Arrays, Model
from ailedger.federated.participation import NUM_EXAMPLES_KEY

__all__ = [
    "POISON_SCALE",
    "STRATEGIES",
    "Behaviour",
    "Hospital",
    "InProcessGrid",
    "LedgerStrategy",
    "RoundSink",
    "client_app",
    "make_strategy",
    "quiet_flower",
    "run_in_process",
    "server_app",
]

STRATEGIES = ("fedavg", "krum", "multikrum", "trimmed-mean", "median")
POISON_SCALE = 10.0
# Keys of the train config the server sends with the global model.
JOB_KEY, MODEL_KEY, CHAIN_KEY, POOL_KEY = "job-id", "model-id", "chain-id", "reward-pool"


class Behaviour(StrEnum):
    """What a hospital does with the global model (the last two are what scores must catch)."""

    HONEST = "honest"
    FREE_RIDER = "free-rider"  # sends the global model back, claims its data size
    POISONER = "poisoner"  # sends a sign-flipped, scaled update


@dataclass(frozen=True)
class Hospital:
    """One federation member: its key, its private data and how it behaves."""

    name: str
    account: LocalAccount
    data: HospitalData
    behaviour: Behaviour = Behaviour.HONEST


def local_update(hospital: Hospital, model: Model, global_arrays: Arrays) -> Arrays:
    """What ``hospital`` sends back for ``global_arrays``, by its behaviour."""
    if hospital.behaviour is Behaviour.FREE_RIDER:
        return [a.copy() for a in global_arrays]
    trained = model.train(global_arrays, hospital.data.X, hospital.data.y)
    if hospital.behaviour is Behaviour.POISONER:
        return [g - POISON_SCALE * (t - g) for g, t in zip(global_arrays, trained, strict=True)]
    return trained


def signed_reply(
    message: Message, hospital: Hospital, arrays: Arrays, *, round_number: int | None = None
) -> Message:
    """The reply carrying ``arrays`` and ``hospital``'s signed commitment to them."""
    config = message.content["config"]
    domain = federated_domain(int(config[CHAIN_KEY]), str(config[POOL_KEY]))
    num_examples = len(hospital.data.y)
    commitment = UpdateCommitment(
        hospital.account.address,
        int(config[JOB_KEY]),
        bytes(config[MODEL_KEY]),
        int(config["server-round"]) if round_number is None else round_number,
        parameters_hash(arrays),
        num_examples,
    ).signed(hospital.account, domain)
    content = RecordDict(
        {
            "arrays": to_record(arrays),
            "metrics": MetricRecord({NUM_EXAMPLES_KEY: num_examples}),
            "commitment": commitment.to_record(),
        }
    )
    return Message(content, reply_to=message)


def client_app(hospital: Hospital, model: Model) -> ClientApp:
    """The ClientApp of ``hospital``: train on its data, sign, reply."""
    app = ClientApp()

    @app.train()
    def train(message: Message, context: Context) -> Message:
        global_arrays = from_record(message.content["arrays"])
        return signed_reply(message, hospital, local_update(hospital, model, global_arrays))

    return app


def make_strategy(name: str, n_clients: int, n_malicious: int = 1) -> Strategy:
    """Flower's strategy ``name`` for ``n_clients`` per round, expecting ``n_malicious``."""
    with quiet_flower():  # Flower warns that federated evaluation is off: it is meant to be
        return _strategy(name, n_clients, n_malicious)


def _strategy(name: str, n_clients: int, n_malicious: int) -> Strategy:
    common = {
        "fraction_evaluate": 0.0,  # the server evaluates on its own validation set
        "min_train_nodes": n_clients,
        "min_available_nodes": n_clients,
    }
    if name == "fedavg":
        return FedAvg(**common)
    if name == "krum":
        return Krum(**common, num_malicious_nodes=n_malicious)
    if name == "multikrum":
        return MultiKrum(
            **common,
            num_malicious_nodes=n_malicious,
            num_nodes_to_select=max(1, n_clients - 2 * n_malicious),
        )
    if name == "trimmed-mean":
        return FedTrimmedAvg(**common, beta=0.2)
    if name == "median":
        return FedMedian(**common)
    raise InvalidInputError(
        f"strategy: expected one of {list(STRATEGIES)}, got {name!r}", field="strategy"
    )


class RoundSink(Protocol):
    """The server's bookkeeping around each round (see ``federated.job.RoundLedger``)."""

    def train_config(self) -> ConfigRecord:
        """What every client needs to bind its commitment to the job."""

    def screen(self, round_number: int, replies: Sequence[Message]) -> list[Message]:
        """The replies to aggregate; every reply is recorded as accepted or rejected."""

    def close_round(self, round_number: int, previous: Arrays, aggregated: Arrays) -> None:
        """Score, record and reward the round that turned ``previous`` into ``aggregated``."""


class LedgerStrategy(Strategy):
    """Any Flower strategy, with every round screened before and accounted after aggregation."""

    def __init__(self, inner: Strategy, ledger: RoundSink) -> None:
        self.inner = inner
        self.ledger = ledger
        self._global: dict[int, ArrayRecord] = {}

    def summary(self) -> None:
        """Flower's summary of the wrapped strategy."""
        self.inner.summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """The wrapped strategy's messages, with the job's binding in the config."""
        self._global[server_round] = arrays
        for key, value in self.ledger.train_config().items():
            config[key] = value
        return self.inner.configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Screen, aggregate the accepted updates with the wrapped strategy, account."""
        previous = self._global.pop(server_round)
        accepted = self.ledger.screen(server_round, list(replies))
        arrays, metrics = (None, None)
        if accepted:
            arrays, metrics = self.inner.aggregate_train(server_round, accepted)
        aggregated = from_record(arrays if arrays is not None else previous)
        self.ledger.close_round(server_round, from_record(previous), aggregated)
        return arrays, metrics

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """No federated evaluation: the server scores on its own validation set."""
        return []

    def aggregate_evaluate(
        self, server_round: int, replies: Iterable[Message]
    ) -> MetricRecord | None:
        """Nothing to aggregate (see :meth:`configure_evaluate`)."""
        return None


def server_app(strategy: LedgerStrategy, initial: Arrays, rounds: int) -> ServerApp:
    """The ServerApp running ``strategy`` for ``rounds`` rounds from ``initial``."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        strategy.start(grid=grid, initial_arrays=to_record(initial), num_rounds=rounds)

    return app


class InProcessGrid(Grid):
    """A Grid that hands each message to a ClientApp in this process and keeps its reply.

    A ClientApp that raises answers with an error reply (as a SuperNode would),
    which the server records as a rejection.
    """

    def __init__(self, apps: Sequence[ClientApp], run_id: int = 1) -> None:
        self._run = Run.create_empty(run_id)
        self._nodes = {
            node_id: (app, Context(run_id, node_id, {}, RecordDict(), {}))
            for node_id, app in enumerate(apps, start=SUPERLINK_NODE_ID + 1)
        }
        self._replies: dict[str, Message] = {}

    def set_run(self, run: Run) -> None:
        """Adopt ``run``."""
        self._run = run

    @property
    def run(self) -> Run:
        """The run these messages belong to."""
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        """A message to ``dst_node_id`` (Flower's signature)."""
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        """The node ids, one per ClientApp (after the SuperLink's)."""
        return list(self._nodes)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Deliver each message to its node's ClientApp now; keep the replies."""
        ids = []
        for message in messages:
            message_id = uuid.uuid4().hex
            message.metadata.__dict__["_message_id"] = message_id
            app, context = self._nodes[message.metadata.dst_node_id]
            try:
                reply = app(message, context)
            except Exception as error:
                reply = Message(
                    Error(code=1, reason=f"{type(error).__name__}: {error}"), reply_to=message
                )
            self._replies[message_id] = reply
            ids.append(message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """The kept replies to ``message_ids`` (each returned once)."""
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Deliver and collect: replies come back before this returns."""
        return self.pull_messages(self.push_messages(messages))


def run_in_process(app: ServerApp, clients: Sequence[ClientApp]) -> None:
    """Run ``app`` against ``clients`` in this process, on an :class:`InProcessGrid`.

    Flower's own log lines are held back (:func:`quiet_flower`): the caller reports
    progress its own way.
    """
    grid = InProcessGrid(clients)
    # What Flower's runtime sets in a ServerApp process before running it.
    TaskIdentity.task_id = 1
    TaskIdentity.run_id = grid.run.run_id
    TaskIdentity.node_id = SUPERLINK_NODE_ID
    with quiet_flower():
        app(grid, Context(grid.run.run_id, SUPERLINK_NODE_ID, {}, RecordDict(), {}))


@contextmanager
def quiet_flower() -> Iterator[None]:
    """Hold Flower's log lines (one per round and strategy step) back to errors."""
    flower_logger = logging.getLogger("flwr")
    level = flower_logger.level
    flower_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        flower_logger.setLevel(level)
