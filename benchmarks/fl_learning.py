"""Federated learning quality: accuracy vs central, robustness, score fairness, time per round.

Every run drives the real ServerApp/ClientApps in process (``InProcessGrid``),
with update commitments signed and screened and GTG-Shapley scores computed
each round exactly as in a job; only the chain is left out (no pool, the ``fl``
records go to a throwaway log), since this measures learning, not gas (see
``fl_reward_gas``).

* accuracy: all hospitals honest and clean, FedAvg, 10 rounds, vs the same
  logistic regression trained centrally on the pooled hospital data (goal:
  within 1 point), on breast cancer and digits;
* robustness: 10 hospitals, 2 of them poisoners (sign-flipped updates x10), every
  strategy, each against the clean FedAvg run (goal: the robust one loses <= 3
  points);
* fairness: the demo federation (6 honest hospitals with 0-40% flipped labels, a
  free-rider, a poisoner); Spearman correlation of summed scores with true
  quality (clean share x size; 0 for free-rider and poisoner; goal >= 0.8), and
  free-rider / poisoner scores against the mean positive score (goal <= 5%);
* time per round for 8 and 32 hospitals and scoring's share of it.

Run: ``python -m benchmarks fl_learning``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from eth_account import Account
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from ailedger.core.log import SqliteStore, TransparencyLog
from ailedger.federated import Behaviour, ClientSpec, JobSettings, demo_clients
from ailedger.federated.apps import Hospital
from ailedger.federated.commitments import federated_domain
from ailedger.federated.data import split_hospitals
from ailedger.federated.job import RoundLedger, train
from ailedger.federated.model import make_model

POOL = "0x" + "11" * 20
STRATEGIES = ("fedavg", "krum", "multikrum", "trimmed-mean", "median")


def _run(settings: JobSettings) -> tuple[RoundLedger, list[Hospital], float]:
    data = split_hospitals(
        settings.task, [c.label_noise for c in settings.clients], seed=settings.seed
    )
    model = make_model(settings.model, data.n_features, data.classes)
    hospitals = [
        Hospital(c.name, Account.from_key((i + 1).to_bytes(32, "big")), part, c.behaviour)
        for i, (c, part) in enumerate(zip(settings.clients, data.hospitals, strict=True))
    ]
    with tempfile.TemporaryDirectory() as tmp:
        log = TransparencyLog(SqliteStore(Path(tmp) / "fl.sqlite3"))
        ledger = RoundLedger(
            job_id=1,
            model_id=b"\0" * 32,
            domain=federated_domain(31337, POOL),
            registered={h.account.address: h.name for h in hospitals},
            model=model,
            data=data,
            settings=settings,
            log=log,
        )
        started = time.perf_counter()
        train(ledger, hospitals, settings)
        elapsed = time.perf_counter() - started
        log.close()
    return ledger, hospitals, elapsed


def _central(task: str, model: str, n: int, seed: int) -> float:
    data = split_hospitals(task, [0.0] * n, seed=seed)
    X, y = data.pooled()
    if model == "mlp":
        estimator = MLPClassifier(hidden_layer_sizes=(32,), max_iter=500, random_state=seed)
    else:
        estimator = LogisticRegression(max_iter=2_000)
    return float(estimator.fit(X, y).score(data.X_test, data.y_test))


def accuracy_vs_central() -> dict[str, Any]:
    out = {}
    for task, model in (
        ("breast-cancer", "logistic-regression"),
        ("digits", "logistic-regression"),
        ("digits", "mlp"),
    ):
        clients = tuple(ClientSpec(f"h{i}") for i in range(8))
        settings = JobSettings(clients, task=task, model=model, strategy="fedavg", rounds=10)
        ledger, _, _ = _run(settings)
        federated = ledger.rounds[-1].accuracy
        central = _central(task, model, 8, 0)
        out[f"{task}/{model}"] = {
            "federated_accuracy": federated,
            "central_accuracy": round(central, 4),
            "gap_points": round(100 * (central - federated), 2),
            "goal_within_1_point": abs(central - federated) <= 0.01,
        }
    return out


def robustness() -> dict[str, Any]:
    honest = tuple(ClientSpec(f"h{i}") for i in range(8))
    poisoned = honest + tuple(ClientSpec(f"p{i}", Behaviour.POISONER) for i in range(2))
    clean = _run(JobSettings((*honest, ClientSpec("h8"), ClientSpec("h9")), rounds=5))[0]
    clean_accuracy = clean.rounds[-1].accuracy
    out: dict[str, Any] = {"clean_fedavg_accuracy": clean_accuracy, "poisoners": "2 of 10"}
    for strategy in STRATEGIES:
        ledger = _run(JobSettings(poisoned, strategy=strategy, rounds=5, expected_malicious=2))[0]
        accuracy = ledger.rounds[-1].accuracy
        out[strategy] = {
            "accuracy": accuracy,
            "loss_points": round(100 * (clean_accuracy - accuracy), 2),
            "within_3_points": clean_accuracy - accuracy <= 0.03,
        }
    return out


def fairness() -> dict[str, Any]:
    out = {}
    for strategy in ("fedavg", "median", "multikrum"):
        settings = JobSettings(demo_clients(8), strategy=strategy, rounds=3)
        ledger, hospitals, _ = _run(settings)
        names = {h.account.address: h.name for h in hospitals}
        shapley = dict.fromkeys(names.values(), 0.0)
        loo = dict.fromkeys(names.values(), 0.0)
        for summary in ledger.rounds:
            for client, value in summary.shapley.items():
                shapley[names[client]] += value
            for client, value in summary.leave_one_out.items():
                loo[names[client]] += value
        truth = {
            h.name: h.data.true_quality if h.behaviour is Behaviour.HONEST else 0.0
            for h in hospitals
        }
        order = list(truth)
        positive = [max(shapley[n], 0.0) for n in order]
        mean_positive = float(np.mean(positive))
        free_rider, poisoner = order[-2], order[-1]
        out[strategy] = {
            "spearman_shapley": round(
                float(spearmanr([shapley[n] for n in order], [truth[n] for n in order]).statistic),
                3,
            ),
            "spearman_leave_one_out": round(
                float(spearmanr([loo[n] for n in order], [truth[n] for n in order]).statistic), 3
            ),
            "free_rider_share_of_mean": round(max(shapley[free_rider], 0.0) / mean_positive, 4),
            "poisoner_share_of_mean": round(max(shapley[poisoner], 0.0) / mean_positive, 4),
            "shapley": {n: round(v, 4) for n, v in shapley.items()},
            "true_quality": {n: round(v, 2) for n, v in truth.items()},
        }
    return out


def time_per_round() -> dict[str, Any]:
    out = {}
    for n in (8, 32):
        settings = JobSettings(demo_clients(n), strategy="median", rounds=3, task="digits")
        ledger, _, elapsed = _run(settings)
        scoring = sum(r.scoring_seconds for r in ledger.rounds)
        out[f"{n}_clients"] = {
            "seconds_per_round": round(elapsed / settings.rounds, 3),
            "scoring_share": round(scoring / elapsed, 3),
        }
    return out


def run() -> dict[str, Any]:
    return {
        "accuracy_vs_central": accuracy_vs_central(),
        "robustness_20pct_poisoners": robustness(),
        "score_fairness": fairness(),
        "time_per_round": time_per_round(),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
