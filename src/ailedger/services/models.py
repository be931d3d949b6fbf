"""Models a service host can serve: a fitted estimator, its input check, its card and hashes.

Two are built in:

* ``diagnosis`` -- logistic regression on scikit-learn's bundled Wisconsin
  breast-cancer data (569 biopsies, 30 numeric features): P(malignant). Trained
  here in well under a second.
* ``credit`` -- the audit domain's LightGBM credit model on the German Credit
  data, through ``ailedger.audit``'s public API: P(good credit risk).

``model_hash`` is the SHA-256 of the pickled estimator (what the registry lists);
``card_hash`` the SHA-256 of the canonical-JSON model card. A saved model is
reloaded with :func:`load_model`, which refuses bytes whose hash differs.
"""

from __future__ import annotations

import hashlib
import math
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ailedger.core.identity import canonical_json
from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError

__all__ = [
    "BUILTIN_MODELS",
    "ServedModel",
    "build_model",
    "credit_model",
    "diagnosis_model",
    "load_model",
    "save_model",
]

_NUMBER_TYPES = frozenset((float, int))  # exact types: bool (an int subclass) is refused
_DIAGNOSIS_THRESHOLD = 0.5
_CREDIT_THRESHOLD = 0.6


class ServedModel:
    """A fitted model ready to serve: ``predict(input) -> output`` on one JSON object.

    Subclasses say how one input is checked (``validate``) and scored (``score``).
    ``examples`` are a few valid inputs (the demo and the CLI call with them).
    """

    kind: str = ""

    def __init__(
        self,
        estimator: Any,
        card: dict[str, Any],
        examples: list[dict[str, Any]],
        *,
        model_bytes: bytes | None = None,
    ) -> None:
        self.estimator = estimator
        self.card = card
        self.examples = examples
        self.name = str(card.get("name", self.kind))
        self.version = str(card.get("version", "1"))
        self.model_bytes = model_bytes or pickle.dumps(estimator, protocol=5)
        self.model_hash = hashlib.sha256(self.model_bytes).digest()
        self.card_hash = hashlib.sha256(canonical_json(card)).digest()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name} {self.version}, 0x{self.model_hash.hex()[:12]})"

    def predict(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Validate one input object and return the model's output object."""
        if not isinstance(inputs, Mapping):
            raise InvalidInputError(
                f"input: expected a JSON object, got {type(inputs).__name__}", field="input"
            )
        return self.score(self.validate(inputs))

    def validate(self, inputs: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def score(self, row: Any) -> dict[str, Any]:
        raise NotImplementedError

    def score_many(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """Score validated rows at once (a batch); each output equals ``score`` of its row."""
        return [self.score(row) for row in rows]


# -- diagnosis: logistic regression on the breast-cancer data -----------------------------------


class DiagnosisModel(ServedModel):
    """A StandardScaler + LogisticRegression pipeline over the 30 breast-cancer features."""

    kind = "diagnosis"

    def __init__(
        self, pipeline: Any, card: dict[str, Any], examples: list[dict[str, Any]], **kw: Any
    ) -> None:
        super().__init__(pipeline, card, examples, **kw)
        scaler, regression = pipeline[0], pipeline[-1]
        self.features = tuple(card["inputs"])
        # Serving evaluates the fitted pipeline as one affine map, the scaler folded into the
        # weights: the numbers of predict_proba (tested) without sklearn's per-call checks.
        coef = regression.coef_[0]
        self._weights = [float(w) for w in coef / scaler.scale_]
        self._bias = float(regression.intercept_[0] - (coef * scaler.mean_ / scaler.scale_).sum())

    def validate(self, inputs: Mapping[str, Any]) -> list[float]:
        return _numeric_row(inputs, self.features)

    def score(self, row: list[float]) -> dict[str, Any]:
        z = self._bias + math.fsum(w * x for w, x in zip(self._weights, row, strict=True))
        return _diagnosis(z)

    def score_many(self, rows: Sequence[list[float]]) -> list[dict[str, Any]]:
        import numpy as np

        # The products in one array operation; fsum then adds each row exactly rounded, so
        # every output is bit for bit what ``score`` gives (a dot product would not be).
        products = (np.asarray(rows, dtype=float) * np.asarray(self._weights)).tolist()
        bias, fsum = self._bias, math.fsum
        return [_diagnosis(bias + fsum(row)) for row in products]


def _diagnosis(z: float) -> dict[str, Any]:
    p = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
    return {
        "diagnosis": "malignant" if p >= _DIAGNOSIS_THRESHOLD else "benign",
        "p_malignant": round(p, 6),
    }


def diagnosis_model(seed: int = 0) -> DiagnosisModel:
    """Train the breast-cancer classifier (well under a second)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    features = [str(name) for name in data.feature_names]
    # sklearn codes malignant as 0: predict malignancy as the positive class.
    target = (data.target == 0).astype(int)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    auc = cross_val_score(pipeline, data.data, target, cv=5, scoring="roc_auc")
    pipeline.fit(data.data, target)
    card = {
        "name": "diagnosis",
        "version": "1.0.0",
        "model_type": "sklearn StandardScaler + LogisticRegression",
        "task": "P(malignant) of a breast mass from 30 features of a fine-needle aspirate image",
        "training_data": {
            "source": "Wisconsin Diagnostic Breast Cancer (UCI), bundled with scikit-learn",
            "rows": len(target),
            "positive_rate": round(float(target.mean()), 4),
        },
        "cv_folds": 5,
        "cv_auc_mean": round(float(auc.mean()), 4),
        "threshold": _DIAGNOSIS_THRESHOLD,
        "inputs": features,
        "intended_use": "Demonstration of a paid diagnostic model service; not for clinical use.",
    }
    examples = [dict(zip(features, map(float, row), strict=True)) for row in data.data[:50]]
    return DiagnosisModel(pipeline, card, examples)


# -- credit: the audit domain's model ---------------------------------------------------------


class CreditModel(ServedModel):
    """The audit domain's credit model, one application per call: P(good credit risk)."""

    kind = "credit"

    def __init__(
        self, estimator: Any, card: dict[str, Any], examples: list[dict[str, Any]], **kw: Any
    ) -> None:
        super().__init__(estimator, card, examples, **kw)
        self._schema = _audit().credit_schema()

    def validate(self, inputs: Mapping[str, Any]) -> Any:
        return self._schema.validate_application(dict(inputs))

    def score(self, application: Any) -> dict[str, Any]:
        return self.score_many([application])[0]

    def score_many(self, applications: Sequence[Any]) -> list[dict[str, Any]]:
        # One predict_proba over the whole batch: LightGBM's per-call cost dominates one row.
        frame = self._schema.to_frame(list(applications))
        return [
            {
                "decision": "approve" if p >= _CREDIT_THRESHOLD else "refer",
                "p_good_risk": round(p, 6),
            }
            for p in map(float, self.estimator.predict_proba(frame)[:, 1])
        ]


def credit_model(seed: int = 0) -> CreditModel:
    """Train the audit domain's credit model (LightGBM on German Credit, about a second)."""
    audit = _audit()
    data = audit.load_german_credit()
    trained = audit.train_credit_model(data, seed=seed)
    card = trained.card.model_dump(mode="json")
    card["name"] = "credit"
    names = list(audit.credit_schema().names)
    sample = audit.SyntheticCreditGenerator.fit(data).sample(50, seed=seed).features[names]
    examples = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in sample.to_dict(orient="records")
    ]
    return CreditModel(trained.estimator, card, examples)


def _audit() -> Any:
    try:
        import ailedger.audit as audit
    except ImportError as error:  # the audit domain is optional for services
        raise NotFoundError(
            f"the credit model needs ailedger.audit ({error})", field="model"
        ) from None
    return audit


BUILTIN_MODELS: dict[str, Callable[[], ServedModel]] = {
    "diagnosis": diagnosis_model,
    "credit": credit_model,
}
_KINDS: dict[str, type[ServedModel]] = {"diagnosis": DiagnosisModel, "credit": CreditModel}


def build_model(name: str) -> ServedModel:
    """Train the built-in model ``name`` (``diagnosis`` or ``credit``)."""
    if name not in BUILTIN_MODELS:
        raise NotFoundError(
            f"model: expected one of {', '.join(BUILTIN_MODELS)}, got {name!r}", field="model"
        )
    return BUILTIN_MODELS[name]()


def save_model(model: ServedModel, directory: Path, name: str | None = None) -> Path:
    """Keep ``model`` in ``directory/<name>.pickle`` so that a host can serve it later."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{name or model.name}.pickle"
    document = {
        "kind": model.kind,
        "model_bytes": model.model_bytes,
        "card": model.card,
        "examples": model.examples,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(document, protocol=5))
    tmp.replace(path)
    return path


def load_model(directory: Path, name: str, expected_hash: bytes | None = None) -> ServedModel:
    """The model saved as ``name``; ``IntegrityError`` if its hash is not ``expected_hash``.

    The hash is checked on the stored estimator bytes before they are unpickled.
    Only load files this data dir wrote: unpickling runs code from the file.
    """
    path = directory / f"{name}.pickle"
    if not path.exists():
        raise NotFoundError(
            f"model {name!r} is not saved in {directory}; run `ailedger services publish`",
            field="model",
        )
    document = pickle.loads(path.read_bytes())
    model_bytes = document["model_bytes"]
    actual = hashlib.sha256(model_bytes).digest()
    if expected_hash is not None and actual != expected_hash:
        raise IntegrityError(
            f"model {name!r}: saved model hash 0x{actual.hex()} does not match the "
            f"registry's 0x{expected_hash.hex()}",
            field="model_hash",
        )
    estimator = pickle.loads(model_bytes)
    kind = _KINDS[document["kind"]]
    return kind(estimator, document["card"], document["examples"], model_bytes=model_bytes)


def _numeric_row(inputs: Mapping[str, Any], features: Sequence[str]) -> list[float]:
    # Fast path for the common, valid input: exactly the features, all finite floats or
    # ints. Anything else takes the checks below, which name what is wrong.
    if len(inputs) == len(features):
        try:
            row = [inputs[name] for name in features]
        except KeyError:
            row = None
        if row is not None and _NUMBER_TYPES.issuperset(map(type, row)):
            try:
                if all(map(math.isfinite, row)):
                    return list(map(float, row))
            except OverflowError:  # an int beyond float range: named below
                pass
    missing = [name for name in features if name not in inputs]
    if missing:
        raise InvalidInputError(
            f"input: missing {len(missing)} feature(s), first {missing[0]!r}",
            field=f"input.{missing[0]}",
        )
    extra = sorted(set(inputs) - set(features))
    if extra:
        raise InvalidInputError(f"input: unknown feature {extra[0]!r}", field=f"input.{extra[0]}")
    row = []
    for name in features:
        value = inputs[name]
        try:
            number = (
                not isinstance(value, bool)
                and isinstance(value, int | float)
                and math.isfinite(value)
            )
        except OverflowError:
            number = False
        if not number:
            raise InvalidInputError(
                f"input.{name}: expected a finite number, got {value!r}", field=f"input.{name}"
            )
        row.append(float(value))
    return row
