"""The shared model: scikit-learn logistic regression as a list of arrays.

Flower moves arrays; scikit-learn trains. A model is ``[coef, intercept]``
(shapes ``(k, d)`` and ``(k,)``, ``k = 1`` for two classes); local training
warm-starts ``LogisticRegression`` from the global arrays for a few L-BFGS
iterations, as in Flower's scikit-learn examples.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

__all__ = ["Arrays", "LogisticModel"]

Arrays = list[np.ndarray]


@dataclass(frozen=True)
class LogisticModel:
    """Logistic regression over ``n_features`` inputs and ``classes``."""

    n_features: int
    classes: np.ndarray
    local_iterations: int = 5
    regularisation: float = 1.0

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """The shapes every update must have: ``[(k, d), (k,)]``."""
        rows = 1 if len(self.classes) == 2 else len(self.classes)
        return [(rows, self.n_features), (rows,)]

    def initial(self) -> Arrays:
        """The round-zero global model: all zeros."""
        return [np.zeros(shape) for shape in self.shapes]

    def _estimator(self, arrays: Arrays) -> LogisticRegression:
        estimator = LogisticRegression(
            C=self.regularisation, max_iter=self.local_iterations, warm_start=True
        )
        estimator.coef_ = np.array(arrays[0], dtype=float)
        estimator.intercept_ = np.array(arrays[1], dtype=float)
        estimator.classes_ = self.classes
        return estimator

    def train(self, arrays: Arrays, X: np.ndarray, y: np.ndarray) -> Arrays:
        """A few iterations on ``(X, y)`` starting from ``arrays``."""
        estimator = self._estimator(arrays)
        with warnings.catch_warnings():
            # A few iterations per round are the point of federated training.
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y)
        return [estimator.coef_.copy(), estimator.intercept_.copy()]

    def predict_proba(self, arrays: Arrays, X: np.ndarray) -> np.ndarray:
        """Class probabilities of ``arrays`` on ``X``."""
        return self._estimator(arrays).predict_proba(X)

    def accuracy(self, arrays: Arrays, X: np.ndarray, y: np.ndarray) -> float:
        """Share of ``y`` predicted right."""
        predicted = self.classes[self.predict_proba(arrays, X).argmax(axis=1)]
        return float((predicted == y).mean())

    def loss(self, arrays: Arrays, X: np.ndarray, y: np.ndarray) -> float:
        """Log-loss on ``(X, y)`` (probabilities clipped, so a wrecked model stays finite)."""
        return float(log_loss(y, self.predict_proba(arrays, X), labels=self.classes))
