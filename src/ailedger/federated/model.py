"""The shared models: scikit-learn estimators as lists of arrays.

Flower moves arrays; scikit-learn trains. Every model has the same small surface
(:class:`Model`): the shapes an update must have, the round-zero arrays, local
training from the global arrays, probabilities, accuracy and log-loss.

- :class:`LogisticModel`: ``[coef, intercept]`` (shapes ``(k, d)`` and ``(k,)``,
  ``k = 1`` for two classes); local training warm-starts ``LogisticRegression``
  for a few L-BFGS iterations, as in Flower's scikit-learn examples.
- :class:`MLPModel`: one hidden layer, ``[W1, W2, b1, b2]``; local training is a
  few epochs of ``MLPClassifier.partial_fit`` (Adam) from the global weights.
  Round-zero weights are Glorot-uniform from a fixed seed (zeros would keep
  every hidden unit identical).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.neural_network import MLPClassifier

from ailedger.errors import InvalidInputError

__all__ = ["MODELS", "Arrays", "LogisticModel", "MLPModel", "Model", "make_model"]

Arrays = list[np.ndarray]
MODELS = ("logistic-regression", "mlp")


class Model(Protocol):
    """What the server and the ClientApps need of a model."""

    name: str
    classes: np.ndarray

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """The shapes every update must have."""

    def initial(self) -> Arrays:
        """The round-zero global model."""

    def train(self, arrays: Arrays, X: np.ndarray, y: np.ndarray) -> Arrays:
        """Local training on ``(X, y)`` from ``arrays``."""

    def predict_proba(self, arrays: Arrays, X: np.ndarray) -> np.ndarray:
        """Class probabilities of ``arrays`` on ``X``."""


class _Scored:
    """Accuracy and log-loss from ``predict_proba``."""

    classes: np.ndarray

    def predict_proba(self, arrays: Arrays, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def accuracy(self, arrays: Arrays, X: np.ndarray, y: np.ndarray) -> float:
        """Share of ``y`` predicted right."""
        predicted = self.classes[self.predict_proba(arrays, X).argmax(axis=1)]
        return float((predicted == y).mean())

    def loss(self, arrays: Arrays, X: np.ndarray, y: np.ndarray) -> float:
        """Log-loss on ``(X, y)`` (probabilities clipped, so a wrecked model stays finite)."""
        return float(log_loss(y, self.predict_proba(arrays, X), labels=self.classes))


@dataclass(frozen=True)
class LogisticModel(_Scored):
    """Logistic regression over ``n_features`` inputs and ``classes``."""

    n_features: int
    classes: np.ndarray
    local_iterations: int = 5
    regularisation: float = 1.0
    name: str = "logistic-regression"

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """``[(k, d), (k,)]``."""
        rows = 1 if len(self.classes) == 2 else len(self.classes)
        return [(rows, self.n_features), (rows,)]

    def initial(self) -> Arrays:
        """All zeros."""
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
        """A few L-BFGS iterations on ``(X, y)`` starting from ``arrays``."""
        estimator = self._estimator(arrays)
        with warnings.catch_warnings():
            # A few iterations per round are the point of federated training.
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y)
        return [estimator.coef_.copy(), estimator.intercept_.copy()]

    def predict_proba(self, arrays: Arrays, X: np.ndarray) -> np.ndarray:
        """Class probabilities of ``arrays`` on ``X``."""
        return self._estimator(arrays).predict_proba(X)


@dataclass(frozen=True)
class MLPModel(_Scored):
    """A one-hidden-layer perceptron over ``n_features`` inputs and ``classes``."""

    n_features: int
    classes: np.ndarray
    hidden: int = 32
    local_epochs: int = 5
    learning_rate: float = 0.01
    seed: int = 0
    name: str = "mlp"

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """``[(d, h), (h, k), (h,), (k,)]`` (``k = 1`` for two classes)."""
        outputs = 1 if len(self.classes) == 2 else len(self.classes)
        return [(self.n_features, self.hidden), (self.hidden, outputs), (self.hidden,), (outputs,)]

    def initial(self) -> Arrays:
        """Glorot-uniform weights and zero biases, from ``seed``."""
        rng = np.random.default_rng(self.seed)
        weights = []
        for fan_in, fan_out in self.shapes[:2]:
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        return [*weights, np.zeros(self.shapes[2]), np.zeros(self.shapes[3])]

    def _estimator(self, arrays: Arrays, X: np.ndarray, y: np.ndarray) -> MLPClassifier:
        estimator = MLPClassifier(
            hidden_layer_sizes=(self.hidden,),
            learning_rate_init=self.learning_rate,
            batch_size=32,
            random_state=self.seed,
        )
        # One step on one example builds the network's structure; the weights are replaced.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # batch_size clipped to one example
            estimator.partial_fit(X[:1], y[:1], classes=self.classes)
        estimator.coefs_ = [np.array(a, dtype=float) for a in arrays[:2]]
        estimator.intercepts_ = [np.array(a, dtype=float) for a in arrays[2:]]
        return estimator

    def train(self, arrays: Arrays, X: np.ndarray, y: np.ndarray) -> Arrays:
        """``local_epochs`` epochs of Adam on ``(X, y)`` starting from ``arrays``."""
        estimator = self._estimator(arrays, X, y)
        for _ in range(self.local_epochs):
            estimator.partial_fit(X, y)
        return [*(a.copy() for a in estimator.coefs_), *(a.copy() for a in estimator.intercepts_)]

    def predict_proba(self, arrays: Arrays, X: np.ndarray) -> np.ndarray:
        """Class probabilities of ``arrays`` on ``X``."""
        return self._estimator(arrays, X, self.classes[:1]).predict_proba(X)


def make_model(name: str, n_features: int, classes: np.ndarray) -> LogisticModel | MLPModel:
    """The model ``name`` (one of :data:`MODELS`) for the given inputs and classes."""
    if name == "logistic-regression":
        return LogisticModel(n_features, classes)
    if name == "mlp":
        return MLPModel(n_features, classes)
    raise InvalidInputError(f"model: expected one of {list(MODELS)}, got {name!r}", field="model")
