"""Differentially private aggregates of a dataset, for listing pages and previews.

A seller may publish summary statistics of a pool (how many records, the mean
of each measurement, how often each diagnosis occurs) without buying access.
Every released number is noised with IBM's diffprivlib under one total privacy
budget ``epsilon``, split evenly between the statistics; its
``BudgetAccountant`` refuses to spend more than the budget. Bounds for means
must be given (public knowledge, e.g. the instrument's range), never read from
the data: bounds derived from the data would themselves leak it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from diffprivlib import BudgetAccountant
from diffprivlib import tools as dp

from ailedger.errors import InvalidInputError

__all__ = ["PrivateSummary", "private_summary"]


@dataclass(frozen=True)
class PrivateSummary:
    """Noised statistics and the budget they spent."""

    epsilon: float
    count: float
    means: dict[str, float]
    category_counts: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        return {
            "epsilon": self.epsilon,
            "count": self.count,
            "means": dict(self.means),
            "category_counts": dict(self.category_counts),
        }


def private_summary(
    frame: pd.DataFrame,
    *,
    bounds: Mapping[str, tuple[float, float]],
    category: str | None = None,
    epsilon: float = 1.0,
    seed: int | None = None,
) -> PrivateSummary:
    """An epsilon-DP record count, mean per column in ``bounds``, and counts per ``category``.

    ``seed`` fixes the noise (tests); leave it None in production.
    """
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise InvalidInputError("dataset: expected a non-empty DataFrame", field="dataset")
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not epsilon > 0:
        raise InvalidInputError(f"epsilon: expected > 0, got {epsilon!r}", field="epsilon")
    for column, bound in bounds.items():
        if column not in frame.columns:
            raise InvalidInputError(
                f"bounds: column {column!r} is not in the dataset", field="bounds"
            )
        if len(bound) != 2 or not bound[0] < bound[1]:
            raise InvalidInputError(
                f"bounds[{column!r}]: expected (low, high) with low < high, got {bound!r}",
                field="bounds",
            )
    if category is not None and category not in frame.columns:
        raise InvalidInputError(
            f"category: column {category!r} is not in the dataset", field="category"
        )
    # Which labels exist is taken as public (a diagnosis is malignant or benign); only how
    # often each occurs is protected.
    categories = sorted(str(v) for v in frame[category].astype(str).unique()) if category else []
    queries = 1 + len(bounds) + len(categories)
    share = epsilon / queries
    accountant = BudgetAccountant(epsilon=epsilon)
    rng = np.random.default_rng(seed)

    def state() -> int:
        return int(rng.integers(2**31 - 1))

    count = float(
        dp.count_nonzero(
            np.ones(len(frame)), epsilon=share, accountant=accountant, random_state=state()
        )
    )
    means = {
        column: float(
            dp.mean(
                frame[column].to_numpy(dtype=float),
                epsilon=share,
                bounds=bounds[column],
                accountant=accountant,
                random_state=state(),
            )
        )
        for column in bounds
    }
    labels = frame[category].astype(str).to_numpy() if category else np.array([])
    category_counts = {
        value: max(
            0.0,
            float(
                dp.count_nonzero(
                    labels == value, epsilon=share, accountant=accountant, random_state=state()
                )
            ),
        )
        for value in categories
    }
    return PrivateSummary(epsilon, max(0.0, count), means, category_counts)
