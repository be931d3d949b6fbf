"""The input schema of an audited model: which features, of which kind, with which values.

Applications are validated here, once, at the boundary: a missing, unknown or
ill-typed feature raises ``InvalidInputError`` naming it. Validated applications
become a pandas frame with the schema's column order and categorical dtypes, the
form every scikit-learn-style estimator in :mod:`ailedger.audit` is trained on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from ailedger.errors import InvalidInputError

FeatureValue = str | int | float
Application = Mapping[str, FeatureValue]


class FeatureSpec(BaseModel):
    """One model input: numeric, or categorical with its allowed values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Literal["numeric", "categorical"]
    description: str = ""
    categories: tuple[str, ...] = ()

    def check(self, value: object) -> FeatureValue:
        """Return ``value`` if it is valid for this feature, else raise naming the feature.

        NumPy scalars become the equivalent Python values, so that rows taken from a
        DataFrame validate and canonicalize like hand-written ones.
        """
        if isinstance(value, np.generic):
            value = value.item()
        if self.kind == "categorical":
            if not isinstance(value, str):
                raise InvalidInputError(
                    f"feature {self.name!r} must be a string, got {type(value).__name__}",
                    field=self.name,
                )
            if value not in self.categories:
                raise InvalidInputError(
                    f"feature {self.name!r} must be one of {list(self.categories)}, got {value!r}",
                    field=self.name,
                )
            return value
        # bool is an int subclass, but True is no credit amount.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(
                f"feature {self.name!r} must be a number, got {type(value).__name__}",
                field=self.name,
            )
        if not math.isfinite(value):
            raise InvalidInputError(
                f"feature {self.name!r} must be finite, got {value!r}", field=self.name
            )
        return value


class FeatureSchema(BaseModel):
    """The ordered inputs of a model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[FeatureSpec, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The feature names, in the order the model takes them."""
        return tuple(spec.name for spec in self.features)

    def validate_application(self, application: object) -> dict[str, FeatureValue]:
        """Check one application; return it as a plain dict in schema order."""
        if not isinstance(application, Mapping):
            raise InvalidInputError(
                f"an application must be a mapping of feature to value, "
                f"got {type(application).__name__}",
                field="application",
            )
        unknown = sorted(set(application) - set(self.names), key=str)
        if unknown:
            raise InvalidInputError(
                f"unknown feature {unknown[0]!r}; expected only {list(self.names)}",
                field=str(unknown[0]),
            )
        checked: dict[str, FeatureValue] = {}
        for spec in self.features:
            if spec.name not in application:
                raise InvalidInputError(f"missing feature {spec.name!r}", field=spec.name)
            checked[spec.name] = spec.check(application[spec.name])
        return checked

    def to_frame(self, applications: Sequence[Mapping[str, FeatureValue]]) -> pd.DataFrame:
        """Validated applications as a frame with categorical dtypes fixed by the schema."""
        rows = [self.validate_application(application) for application in applications]
        return self.frame_from_columns(pd.DataFrame(rows, columns=list(self.names)))

    def frame_from_columns(self, table: pd.DataFrame) -> pd.DataFrame:
        """Select and type the schema's columns of a trusted table (training data)."""
        columns = {}
        for spec in self.features:
            if spec.kind == "categorical":
                columns[spec.name] = pd.Categorical(table[spec.name], categories=spec.categories)
            else:
                columns[spec.name] = table[spec.name].astype(float)
        return pd.DataFrame(columns, index=table.index)

    @classmethod
    def infer(
        cls, table: pd.DataFrame, descriptions: Mapping[str, str] | None = None
    ) -> FeatureSchema:
        """A schema from a training table: numeric columns numeric, others categorical."""
        descriptions = descriptions or {}
        specs = []
        for name in table.columns:
            column = table[name]
            if pd.api.types.is_numeric_dtype(column):
                specs.append(
                    FeatureSpec(name=name, kind="numeric", description=descriptions.get(name, ""))
                )
            else:
                specs.append(
                    FeatureSpec(
                        name=name,
                        kind="categorical",
                        description=descriptions.get(name, ""),
                        categories=tuple(sorted(column.dropna().unique())),
                    )
                )
        return cls(features=tuple(specs))
