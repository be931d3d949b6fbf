"""Synthetic credit applications at any scale, fitted to the German Credit marginals.

How it works: the generator records the class balance (70 % good) and, for each
class separately, the empirical distribution of every one of the 20 columns
(category frequencies; the observed values of numeric columns). To generate, it
draws a class, then each column independently from that class's empirical
distribution. This preserves

* every column's marginal distribution (up to sampling noise), and
* every column's distribution given the class, so a model trained on the real
  data still separates synthetic good and bad risks,

but not the dependence between columns within a class (it is a naive-Bayes
sampler): a synthetic applicant can be, say, 19 years old with 20 years of
employment. Use it for load and benchmark runs, never to evaluate a model's
quality. No synthetic row is a copy of a real applicant except by chance.

Example::

    >>> generator = SyntheticCreditGenerator.fit(load_german_credit())  # doctest: +SKIP
    >>> generator.sample(100_000, seed=1).features.shape  # doctest: +SKIP
    (100000, 20)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ailedger.audit.german_credit import CreditData, age_group_of, sex_of
from ailedger.errors import InvalidInputError


@dataclass(frozen=True)
class _Marginal:
    values: np.ndarray
    probabilities: np.ndarray


@dataclass(frozen=True)
class SyntheticCreditGenerator:
    """Class-conditional per-column empirical marginals of a credit data set."""

    columns: tuple[str, ...]
    positive_rate: float
    # class (0 bad, 1 good) -> column -> empirical distribution
    marginals: dict[int, dict[str, _Marginal]]
    fitted_on: str

    @classmethod
    def fit(cls, data: CreditData) -> SyntheticCreditGenerator:
        """Record the class balance and each column's empirical distribution per class."""
        marginals: dict[int, dict[str, _Marginal]] = {}
        for label in (0, 1):
            rows = data.features[data.target.to_numpy() == label]
            marginals[label] = {}
            for column in data.features.columns:
                counts = rows[column].value_counts(sort=False).sort_index()
                marginals[label][column] = _Marginal(
                    values=counts.index.to_numpy(),
                    probabilities=(counts / counts.sum()).to_numpy(dtype=float),
                )
        return cls(
            columns=tuple(data.features.columns),
            positive_rate=float(data.target.mean()),
            marginals=marginals,
            fitted_on=data.sha256,
        )

    def sample(self, n: int, *, seed: int = 0) -> CreditData:
        """``n`` synthetic applications with labels; the same seed gives the same rows."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidInputError(f"n must be a positive integer, got {n!r}", field="n")
        rng = np.random.default_rng(seed)
        target = (rng.random(n) < self.positive_rate).astype(int)
        columns: dict[str, np.ndarray] = {}
        for column in self.columns:
            out = np.empty(n, dtype=object)
            for label in (0, 1):
                mask = target == label
                marginal = self.marginals[label][column]
                out[mask] = rng.choice(
                    marginal.values, size=int(mask.sum()), p=marginal.probabilities
                )
            columns[column] = out
        features = pd.DataFrame(columns)
        for column in features.columns:
            if all(
                np.issubdtype(np.asarray(m[column].values).dtype, np.number)
                for m in self.marginals.values()
            ):
                features[column] = features[column].astype(int)
        labels = pd.Series(target, name="good_credit")
        digest = hashlib.sha256(f"{self.fitted_on}:{n}:{seed}".encode()).hexdigest()
        return CreditData(
            features=features,
            target=labels,
            sex=sex_of(features["personal_status_sex"]),
            age_group=age_group_of(features["age"]),
            description=(
                f"{n} synthetic applications drawn from the class-conditional per-column "
                f"marginals of the German Credit data (seed {seed})"
            ),
            source="ailedger.audit.synthetic.SyntheticCreditGenerator",
            sha256=digest,
        )
