"""Contribution scores: GTG-Shapley per round, leave-one-out as the reference.

The utility of a set ``S`` of the round's accepted updates is the negative
log-loss, on the server's validation set, of the previous global model plus the
FedAvg steps of ``S``'s members only (each weighted by its share of the round's
examples, see :func:`fedavg_steps`); the empty set's utility is the previous
global model's and the full set's is FedAvg's model. Client ``i``'s Shapley
value is its marginal utility averaged over orders of arrival. Exact values
need ``2**n`` evaluations; GTG-Shapley (Liu et al., "GTG-Shapley: Efficient and
Accurate Participant Contribution Evaluation in Federated Learning", ACM TIST
2022) estimates them by Monte-Carlo sampling of permutations, with three
savings, all used here:

- *between-round truncation*: a round whose total gain is negligible gets zero
  scores without any evaluation;
- *within-round truncation*: a permutation stops once its prefix is within
  ``truncation`` of the full set's utility (the rest would add ~nothing);
- *guided sampling*: permutation ``k`` starts with client ``k mod n``, so each
  client's marginal on the previous model is measured early.

Sampling stops when the running means move by less than ``tolerance`` (relative)
after at least ``n`` permutations, or after ``max_permutations``. Utilities are
cached per subset. Leave-one-out (``U(N) - U(N \\ {i})``, ``n + 1`` evaluations)
misses redundancy between similar clients but is exact; it is reported beside.

A free-rider that returns the global model adds nothing (its step is zero, so its
marginal is exactly zero everywhere); a poisoner's marginal is negative. Rewards
use the positive part of the scores only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ScoreReport", "Utility", "fedavg_steps", "gtg_shapley"]

Utility = Callable[[frozenset[int]], float]


@dataclass(frozen=True)
class ScoreReport:
    """One round's scores (in client order) and what computing them cost."""

    shapley: list[float]
    leave_one_out: list[float]
    permutations: int
    evaluations: int
    truncated_round: bool


class _CachedUtility:
    def __init__(self, utility: Utility) -> None:
        self._utility = utility
        self._cache: dict[frozenset[int], float] = {}

    def __call__(self, members: frozenset[int]) -> float:
        if members not in self._cache:
            self._cache[members] = self._utility(members)
        return self._cache[members]

    @property
    def evaluations(self) -> int:
        return len(self._cache)


def gtg_shapley(
    utility: Utility,
    n: int,
    *,
    truncation: float = 0.01,
    round_truncation: float = 1e-4,
    tolerance: float = 0.02,
    max_permutations: int | None = None,
    seed: int = 0,
) -> ScoreReport:
    """GTG-Shapley estimates of ``n`` clients' values under ``utility``, and leave-one-out."""
    cached = _CachedUtility(utility)
    everyone = frozenset(range(n))
    full, empty = cached(everyone), cached(frozenset())
    gain = full - empty
    loo = [full - cached(everyone - {i}) for i in range(n)]
    if abs(gain) < round_truncation:
        return ScoreReport([0.0] * n, loo, 0, cached.evaluations, True)
    rng = np.random.default_rng(seed)
    limit = max_permutations or 10 * n
    totals = np.zeros(n)
    means = np.zeros(n)
    permutations = 0
    while permutations < limit:
        first = permutations % n
        order = [first, *rng.permutation([i for i in range(n) if i != first]).tolist()]
        prefix: frozenset[int] = frozenset()
        previous = empty
        for client in order:
            if abs(full - previous) < truncation * abs(gain):
                break  # within-round truncation: the remaining marginals are ~0
            prefix = prefix | {client}
            current = cached(prefix)
            totals[client] += current - previous
            previous = current
        permutations += 1
        new_means = totals / permutations
        if permutations >= n and _converged(means, new_means, tolerance):
            means = new_means
            break
        means = new_means
    return ScoreReport(means.tolist(), loo, permutations, cached.evaluations, False)


def _converged(old: np.ndarray, new: np.ndarray, tolerance: float) -> bool:
    scale = np.abs(new).sum()
    return bool(scale == 0 or np.abs(new - old).sum() / scale < tolerance)


def fedavg_steps(
    previous: Sequence[np.ndarray],
    updates: Sequence[Sequence[np.ndarray]],
    weights: Sequence[float],
) -> Callable[[frozenset[int]], list[np.ndarray]]:
    """The model a subset of ``updates`` makes: ``previous`` plus their weighted steps.

    Each client's step ``update - previous`` counts with its share of ALL the
    round's examples, so the full set gives exactly FedAvg's model and a client
    whose update equals ``previous`` (a free-rider) changes no coalition's model:
    its Shapley value is exactly zero (the dummy-player property).
    """
    total = float(sum(weights))
    steps = [
        [
            (np.asarray(u) - np.asarray(p)) * (w / total)
            for u, p in zip(update, previous, strict=True)
        ]
        for update, w in zip(updates, weights, strict=True)
    ]

    def model(members: frozenset[int]) -> list[np.ndarray]:
        arrays = [np.array(p, dtype=float) for p in previous]
        for i in members:
            for layer, step in enumerate(steps[i]):
                arrays[layer] += step
        return arrays

    return model
