"""Per-feature explanations of a classifier's score, for every decision record.

Which method, chosen once per estimator:

* ``linear`` for models with ``coef_`` (logistic regression and kin): the
  contribution of feature *j* is ``coef_j * x_j`` and the base value is the
  intercept, so base + contributions is exactly the model's log-odds.
* ``tree_shap`` for tree ensembles SHAP's ``TreeExplainer`` supports (LightGBM,
  XGBoost, scikit-learn forests and gradient boosting): exact Shapley values
  (Lundberg et al. 2020) that also add up to the model's raw output.
* ``none`` otherwise: the record says no explanation is available rather than
  approximating one silently.

For a scikit-learn ``Pipeline`` the final step is explained on the transformed
features, and the contributions of columns derived from one input (one-hot
columns ``purpose_car (new)``, ``purpose_education``, ...) are summed back onto
that input, so explanations always speak of the features the applicant gave.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from ailedger.errors import InvalidInputError

DIGITS = 6
TOP_FEATURES = 5

Method = Literal["linear", "tree_shap", "none"]


class Explanation(BaseModel):
    """How much each input feature pushed the score up or down (in log-odds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method
    output_space: Literal["log_odds", "none"]
    base_value: float
    contributions: dict[str, float]
    top_features: tuple[str, ...]


class Explainer:
    """Explains the positive-class score of one fitted estimator."""

    def __init__(self, estimator: Any, feature_names: Sequence[str]) -> None:
        self.feature_names = tuple(feature_names)
        steps = getattr(estimator, "steps", None)
        self._preprocess = estimator[:-1] if steps else None
        self._final = estimator[-1] if steps else estimator
        self._tree: Any = None
        self.method: Method = "none"
        if hasattr(self._final, "coef_"):
            self.method = "linear"
        else:
            try:
                import shap

                self._tree = shap.TreeExplainer(self._final)
                self.method = "tree_shap"
            except Exception:  # shap raises assorted types for models it does not support
                self.method = "none"

    def explain(self, frame: pd.DataFrame) -> list[Explanation]:
        """One explanation per row of ``frame`` (columns: the model's input features)."""
        if self.method == "none":
            return [
                Explanation(
                    method="none",
                    output_space="none",
                    base_value=0.0,
                    contributions={},
                    top_features=(),
                )
                for _ in range(len(frame))
            ]
        transformed, names = self._transform(frame)
        if self.method == "linear":
            coef = np.asarray(self._final.coef_, dtype=float).reshape(-1)
            values = transformed * coef
            base = float(np.asarray(self._final.intercept_, dtype=float).reshape(-1)[0])
        else:
            values, base = self._tree_values(transformed)
        per_feature = self._fold_onto_inputs(values, names)
        return [self._explanation(row, base) for row in per_feature]

    def _transform(self, frame: pd.DataFrame) -> tuple[Any, list[str]]:
        if self._preprocess is None:
            data = frame if self.method == "tree_shap" else frame.to_numpy(dtype=float)
            return data, list(self.feature_names)
        transformed = self._preprocess.transform(frame)
        if hasattr(transformed, "toarray"):
            transformed = transformed.toarray()
        names = [str(name) for name in self._preprocess.get_feature_names_out()]
        return np.asarray(transformed, dtype=float), names

    def _tree_values(self, data: Any) -> tuple[np.ndarray, float]:
        with warnings.catch_warnings():
            # shap warns on every LightGBM call about a changed return type we handle below.
            warnings.simplefilter("ignore", UserWarning)
            values = self._tree.shap_values(data)
        expected = np.asarray(self._tree.expected_value, dtype=float).reshape(-1)
        # Binary classifiers come back as (n, features) for the positive class, or
        # per class as a list or an (n, features, 2) array, depending on the model.
        if isinstance(values, list):
            return np.asarray(values[-1], dtype=float), float(expected[-1])
        values = np.asarray(values, dtype=float)
        if values.ndim == 3:
            return values[:, :, -1], float(expected[-1])
        return values, float(expected[-1])

    def _fold_onto_inputs(self, values: np.ndarray, names: list[str]) -> np.ndarray:
        if names == list(self.feature_names):
            return values
        folded = np.zeros((values.shape[0], len(self.feature_names)))
        for column, name in enumerate(names):
            folded[:, self._input_index(name)] += values[:, column]
        return folded

    def _input_index(self, transformed_name: str) -> int:
        # ColumnTransformer names are "<transformer>__<column>"; one-hot columns are
        # "<input>_<category>". The longest matching input name wins.
        bare = transformed_name.split("__", 1)[-1]
        best = -1
        for index, name in enumerate(self.feature_names):
            if (bare == name or bare.startswith(name + "_")) and (
                best < 0 or len(name) > len(self.feature_names[best])
            ):
                best = index
        if best < 0:
            raise InvalidInputError(
                f"cannot map the estimator's transformed feature {transformed_name!r} "
                f"to one of its inputs {list(self.feature_names)}",
                field="estimator",
            )
        return best

    def _explanation(self, row: np.ndarray, base: float) -> Explanation:
        # "+ 0.0" turns a rounded -0.0 into 0.0, which canonical JSON writes as 0.
        contributions = {
            name: round(float(value), DIGITS) + 0.0
            for name, value in zip(self.feature_names, row, strict=True)
        }
        ranked = sorted(contributions, key=lambda name: -abs(contributions[name]))
        return Explanation(
            method=self.method,
            output_space="log_odds",
            base_value=round(base, DIGITS) + 0.0,
            contributions=contributions,
            top_features=tuple(ranked[:TOP_FEATURES]),
        )
