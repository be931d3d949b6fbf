"""Compute-to-data: train an allow-listed estimator where the data lives.

A buyer who pays for a job names an estimator from :data:`ALLOWED_ESTIMATORS`
and hyper-parameters within its bounds; :func:`run_job` trains it on the
released (anonymized) dataset on the seller's side and hands back only the
serialized model, its SHA-256 hash and held-out metrics. No rows leave.

Models travel as skops files, never pickles: a skops file is data (a zip of JSON and
arrays) that :func:`load_model` rebuilds only from an explicit allow-list of types
(:data:`MODEL_TYPES`), so a seller's bytes cannot run code on the buyer's machine.

The allow-list excludes estimators that store training rows (nearest
neighbours, kernel SVMs keep support vectors), and the bounds keep tree leaves
at least :data:`MIN_LEAF` samples wide, so a model cannot memorize individual
records either.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.base import BaseEstimator
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from ailedger.errors import IntegrityError, InvalidInputError

__all__ = [
    "ALLOWED_ESTIMATORS",
    "MIN_LEAF",
    "MODEL_TYPES",
    "ComputeJob",
    "ComputeResult",
    "EstimatorSpec",
    "Param",
    "check_job",
    "dump_model",
    "load_model",
    "run_job",
]

MIN_LEAF = 5  # as k of the anonymization gate: no leaf describes fewer than five records
MIN_ROWS = 20
# A class rarer than this cannot be split into training and held-out rows, and is a sign the
# target is a measurement rather than a label (every value its own class).
MIN_CLASS_ROWS = MIN_LEAF


@dataclass(frozen=True)
class Param:
    """One tunable hyper-parameter: its type, inclusive bounds and default."""

    kind: type
    low: float
    high: float
    default: float | int

    def check(self, name: str, value: object) -> float | int:
        """``value`` as this parameter's type; ``InvalidInputError`` naming it if out of bounds."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(
                f"params.{name}: expected a number, got {type(value).__name__}",
                field=f"params.{name}",
            )
        # No float() of an int: a 401-digit integer overflows it (was a 500 over HTTP);
        # comparing an int with a float bound is exact in Python.
        if self.kind is int and isinstance(value, float) and not value.is_integer():
            raise InvalidInputError(
                f"params.{name}: expected an integer, got {value!r}", field=f"params.{name}"
            )
        if not (self.low <= value <= self.high) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            shown = (
                f"a {len(str(abs(value)))}-digit integer"
                if isinstance(value, int) and abs(value) > 10**20
                else repr(value)
            )
            raise InvalidInputError(
                f"params.{name}: expected {self.low}..{self.high}, got {shown}",
                field=f"params.{name}",
            )
        return self.kind(value)


@dataclass(frozen=True)
class EstimatorSpec:
    """An allowed estimator: how to build it and which parameters a buyer may set."""

    build: Callable[[dict[str, Any], int], BaseEstimator]
    params: Mapping[str, Param]
    description: str


def _logistic(params: dict[str, Any], seed: int) -> BaseEstimator:
    return make_pipeline(StandardScaler(), LogisticRegression(random_state=seed, **params))


def _forest(params: dict[str, Any], seed: int) -> BaseEstimator:
    return RandomForestClassifier(random_state=seed, n_jobs=1, **params)


def _boosting(params: dict[str, Any], seed: int) -> BaseEstimator:
    return GradientBoostingClassifier(random_state=seed, min_samples_leaf=MIN_LEAF, **params)


def _tree(params: dict[str, Any], seed: int) -> BaseEstimator:
    return DecisionTreeClassifier(random_state=seed, **params)


ALLOWED_ESTIMATORS: dict[str, EstimatorSpec] = {
    "logistic_regression": EstimatorSpec(
        _logistic,
        {"C": Param(float, 1e-4, 1e4, 1.0), "max_iter": Param(int, 10, 2_000, 500)},
        "standardized logistic regression",
    ),
    "random_forest": EstimatorSpec(
        _forest,
        {
            "n_estimators": Param(int, 1, 300, 100),
            "max_depth": Param(int, 1, 16, 6),
            "min_samples_leaf": Param(int, MIN_LEAF, 100, MIN_LEAF),
        },
        "random forest",
    ),
    "gradient_boosting": EstimatorSpec(
        _boosting,
        {
            "n_estimators": Param(int, 1, 300, 100),
            "learning_rate": Param(float, 1e-3, 1.0, 0.1),
            "max_depth": Param(int, 1, 8, 3),
        },
        "gradient-boosted trees",
    ),
    "decision_tree": EstimatorSpec(
        _tree,
        {
            "max_depth": Param(int, 1, 16, 5),
            "min_samples_leaf": Param(int, MIN_LEAF, 100, MIN_LEAF),
        },
        "decision tree",
    ),
}


# skops itself trusts scikit-learn's estimators, numpy arrays and plain builtins; the one
# further type the allow-listed estimators need is the fitted tree. Every other type (a
# seller's own class, os.system, ...) is refused before any object is built, and the
# object built must be one of the allow-listed estimators (a pipeline for logistic
# regression).
MODEL_TYPES: tuple[str, ...] = ("sklearn.tree._tree.Tree",)
_MODEL_CLASSES = (
    "Pipeline",
    "RandomForestClassifier",
    "GradientBoostingClassifier",
    "DecisionTreeClassifier",
)


def dump_model(model: BaseEstimator) -> bytes:
    """A trained allow-listed model as skops bytes (data only, no code).

    The bytes are not reproducible (skops names arrays by object id), so a model's hash
    identifies one delivery, not one job; the same job still trains the same model.
    """
    return sio.dumps(model)


def load_model(data: bytes) -> BaseEstimator:
    """Rebuild a model from skops bytes, refusing any type outside :data:`MODEL_TYPES`.

    Pickles and anything else that is not a skops file are refused without being
    parsed as code; ``IntegrityError`` names what was refused.
    """
    # Counterparty bytes: whatever the parser raises on them is the seller's fault, one kind.
    try:
        found = sio.get_untrusted_types(data=data)
    except Exception as error:  # zip, JSON and schema errors alike
        raise IntegrityError(
            f"model: not a skops model file ({type(error).__name__})", field="model"
        ) from None
    refused = sorted(set(found) - set(MODEL_TYPES))
    if refused:
        raise IntegrityError(f"model: refused types {refused}", field="model")
    try:
        model = sio.loads(data, trusted=[t for t in found if t in MODEL_TYPES])
    except Exception as error:
        raise IntegrityError(
            f"model: the skops file does not load ({type(error).__name__})", field="model"
        ) from None
    if type(model).__name__ not in _MODEL_CLASSES:
        raise IntegrityError(
            f"model: expected one of {list(_MODEL_CLASSES)}, got {type(model).__name__}",
            field="model",
        )
    return model


@dataclass(frozen=True)
class ComputeJob:
    """What a buyer asks to be trained; validated on construction."""

    estimator: str
    target: str
    params: Mapping[str, float | int] = field(default_factory=dict)
    test_fraction: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.estimator, str) or self.estimator not in ALLOWED_ESTIMATORS:
            raise InvalidInputError(
                f"estimator: {self.estimator!r} is not on the allow-list "
                f"(allowed: {', '.join(sorted(ALLOWED_ESTIMATORS))})",
                field="estimator",
            )
        if not isinstance(self.params, Mapping):
            raise InvalidInputError("params: expected a mapping", field="params")
        allowed = ALLOWED_ESTIMATORS[self.estimator].params
        unknown = sorted(set(self.params) - set(allowed))
        if unknown:
            raise InvalidInputError(
                f"params: {unknown} are not tunable for {self.estimator} "
                f"(tunable: {', '.join(sorted(allowed))})",
                field="params",
            )
        checked = {
            name: spec.check(name, self.params[name])
            for name, spec in allowed.items()
            if name in self.params
        }
        object.__setattr__(self, "params", checked)
        if not isinstance(self.test_fraction, float) or not 0.1 <= self.test_fraction <= 0.5:
            raise InvalidInputError(
                f"test_fraction: expected 0.1..0.5, got {self.test_fraction!r}",
                field="test_fraction",
            )
        if not isinstance(self.target, str) or not self.target:
            raise InvalidInputError(
                f"target: expected a column name, got {self.target!r}", field="target"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidInputError(
                f"seed: expected a non-negative integer, got {self.seed!r}", field="seed"
            )

    def resolved_params(self) -> dict[str, float | int]:
        """Every tunable parameter: the buyer's values, defaults for the rest."""
        allowed = ALLOWED_ESTIMATORS[self.estimator].params
        return {name: self.params.get(name, spec.default) for name, spec in allowed.items()}

    def to_dict(self) -> dict[str, Any]:
        """The job as plain data, every parameter resolved (for the log and the API)."""
        return {
            "estimator": self.estimator,
            "target": self.target,
            "params": self.resolved_params(),
            "test_fraction": self.test_fraction,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class ComputeResult:
    """What the buyer receives: the model, its hash and how well it does. No rows."""

    job: ComputeJob
    model: bytes = field(repr=False)
    model_hash: str  # hex SHA-256 of ``model``
    features: tuple[str, ...]
    metrics: dict[str, float]
    n_train: int
    n_test: int

    def load_model(self) -> BaseEstimator:
        """Deserialize the model after checking it against ``model_hash``."""
        if hashlib.sha256(self.model).hexdigest() != self.model_hash:
            raise InvalidInputError("model: bytes do not match model_hash", field="model")
        return load_model(self.model)


def check_job(frame: pd.DataFrame, job: ComputeJob) -> tuple[str, ...]:
    """Refuse ``job`` on ``frame`` unless it can train; return the feature columns.

    Everything :func:`run_job` needs of the data is checked here, so a seller can
    refuse a job before the buyer pays for it: enough rows, the target a column
    with at least two classes of :data:`MIN_CLASS_ROWS` rows each, numeric features,
    and a held-out share holding at least one row per class.
    """
    if not isinstance(frame, pd.DataFrame) or len(frame) < MIN_ROWS:
        got = len(frame) if isinstance(frame, pd.DataFrame) else type(frame).__name__
        raise InvalidInputError(
            f"dataset: expected a DataFrame of at least {MIN_ROWS} rows, got {got}",
            field="dataset",
        )
    if job.target not in frame.columns:
        raise InvalidInputError(
            f"target: {job.target!r} is not a column (have {list(frame.columns)})",
            field="target",
        )
    features = tuple(
        str(c) for c in frame.columns if c != job.target and pd.api.types.is_numeric_dtype(frame[c])
    )
    if not features:
        raise InvalidInputError("dataset: no numeric feature columns to train on", field="dataset")
    counts = frame[job.target].astype(str).value_counts()
    if len(counts) < 2:
        raise InvalidInputError(
            f"target: expected at least two classes, got {list(counts.index)}", field="target"
        )
    rare = counts[counts < MIN_CLASS_ROWS]
    if len(rare):
        raise InvalidInputError(
            f"target: expected a class label with at least {MIN_CLASS_ROWS} rows per class; "
            f"{job.target!r} has {len(counts)} distinct values, {len(rare)} of them in fewer rows",
            field="target",
        )
    n_test = math.ceil(job.test_fraction * len(frame))
    if n_test < len(counts):
        raise InvalidInputError(
            f"test_fraction: {job.test_fraction} of {len(frame)} rows holds out {n_test}, "
            f"fewer than the {len(counts)} classes of {job.target!r}",
            field="test_fraction",
        )
    return features


def run_job(frame: pd.DataFrame, job: ComputeJob) -> ComputeResult:
    """Train ``job`` on ``frame`` (numeric columns but the target); return model and metrics.

    Raises :class:`InvalidInputError` as :func:`check_job` does.
    """
    features = check_job(frame, job)
    y = frame[job.target].astype(str).to_numpy()
    classes = np.unique(y)
    x = frame[list(features)].to_numpy(dtype=float)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=job.test_fraction, random_state=job.seed, stratify=y
    )
    spec = ALLOWED_ESTIMATORS[job.estimator]
    model = spec.build(job.resolved_params(), job.seed).fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1_macro": float(f1_score(y_test, predicted, average="macro")),
    }
    if len(classes) == 2:
        positive = model.classes_[1]
        scores = model.predict_proba(x_test)[:, 1]
        metrics["roc_auc"] = float(roc_auc_score(y_test == positive, scores))
    blob = dump_model(model)
    return ComputeResult(
        job=job,
        model=blob,
        model_hash=hashlib.sha256(blob).hexdigest(),
        features=features,
        metrics=metrics,
        n_train=len(x_train),
        n_test=len(x_test),
    )
