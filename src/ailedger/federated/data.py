"""Hospitals' data: scikit-learn's shipped datasets split non-IID, with known quality.

The server keeps a validation set (for scores and the global model's metrics)
and a test set (for reported accuracy); the rest is divided among hospitals by
a Dirichlet draw over labels (label skew) and sizes (quantity skew), with at
least ``MIN_PER_CLASS`` examples of every class at each hospital so every local
model sees every class. A hospital may have a share of its labels flipped
(``label_noise``): its *true quality*, which contribution scores should rank,
is its share of clean labels times its size.

Features are standardised with the mean and scale of the server's validation
set, published with the job (part of the model, not of anyone's private data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

from ailedger.errors import InvalidInputError

__all__ = ["MIN_PER_CLASS", "TASKS", "FederatedData", "HospitalData", "split_hospitals"]

MIN_PER_CLASS = 3
TASKS = {"breast-cancer": load_breast_cancer, "digits": load_digits}


@dataclass(frozen=True)
class HospitalData:
    """One hospital's private examples; ``label_noise`` is the share of its labels flipped."""

    X: np.ndarray
    y: np.ndarray
    label_noise: float

    @property
    def true_quality(self) -> float:
        """Clean labels times size: what an honest contribution is worth."""
        return (1.0 - self.label_noise) * len(self.y)


@dataclass(frozen=True)
class FederatedData:
    """A task split for a federation: hospitals' data, server validation and test sets."""

    task: str
    classes: np.ndarray
    hospitals: list[HospitalData]
    X_validation: np.ndarray
    y_validation: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return int(self.X_test.shape[1])

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """All hospitals' examples together: the central baseline's training set."""
        return (
            np.vstack([h.X for h in self.hospitals]),
            np.concatenate([h.y for h in self.hospitals]),
        )


def split_hospitals(
    task: str,
    label_noise: Sequence[float],
    *,
    alpha: float = 1.0,
    seed: int = 0,
) -> FederatedData:
    """Split ``task`` across ``len(label_noise)`` hospitals, flipping each one's share of labels.

    ``alpha`` is the Dirichlet concentration: smaller is more skewed (non-IID).
    """
    if task not in TASKS:
        raise InvalidInputError(
            f"task: expected one of {sorted(TASKS)}, got {task!r}", field="task"
        )
    n_hospitals = len(label_noise)
    if n_hospitals < 2:
        raise InvalidInputError(
            f"hospitals: expected at least 2, got {n_hospitals}", field="hospitals"
        )
    if any(not 0.0 <= p < 0.5 for p in label_noise):
        raise InvalidInputError(
            f"label_noise: expected shares in [0, 0.5), got {list(label_noise)}",
            field="label_noise",
        )
    X, y = TASKS[task](return_X_y=True)
    rng = np.random.default_rng(seed)
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=seed
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=0.2, stratify=y_rest, random_state=seed
    )
    mean, scale = X_val.mean(axis=0), X_val.std(axis=0)
    scale[scale == 0] = 1.0

    def standardise(values: np.ndarray) -> np.ndarray:
        return (values - mean) / scale

    classes, class_counts = np.unique(y_train, return_counts=True)
    if class_counts.min() < n_hospitals * MIN_PER_CLASS:
        raise InvalidInputError(
            f"hospitals: {n_hospitals} is too many for {task}: its rarest class has "
            f"{class_counts.min()} training examples, {MIN_PER_CLASS} per hospital are needed",
            field="hospitals",
        )
    owner = _assign(y_train, classes, n_hospitals, alpha, rng)
    hospitals = []
    for index, noise in enumerate(label_noise):
        mine = np.flatnonzero(owner == index)
        labels = y_train[mine].copy()
        flipped = rng.choice(len(labels), size=round(noise * len(labels)), replace=False)
        # A flipped label becomes another class, chosen at random.
        labels[flipped] = (labels[flipped] + rng.integers(1, len(classes), len(flipped))) % len(
            classes
        )
        hospitals.append(HospitalData(standardise(X_train[mine]), labels, float(noise)))
    return FederatedData(
        task, classes, hospitals, standardise(X_val), y_val, standardise(X_test), y_test
    )


def _assign(
    y: np.ndarray, classes: np.ndarray, n_hospitals: int, alpha: float, rng: np.random.Generator
) -> np.ndarray:
    """Each example's hospital: a floor of every class for all, the rest by Dirichlet shares."""
    owner = np.full(len(y), -1)
    sizes = rng.dirichlet(np.full(n_hospitals, 2.0))
    for label in classes:
        members = rng.permutation(np.flatnonzero(y == label))
        floor = members[: n_hospitals * MIN_PER_CLASS]
        owner[floor] = np.repeat(np.arange(n_hospitals), MIN_PER_CLASS)
        rest = members[len(floor) :]
        shares = rng.dirichlet(np.full(n_hospitals, alpha)) * sizes
        owner[rest] = rng.choice(n_hospitals, size=len(rest), p=shares / shares.sum())
    return owner
