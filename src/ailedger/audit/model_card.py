"""Model cards: what a model is, how well it does, how fair it is, and what it is for.

A card names its model by ``model_id``, the SHA-256 of the pickled estimator, so
a decision record that quotes the id pins the exact model bytes; the card itself
is pinned by :meth:`ModelCard.card_hash`, the SHA-256 of its canonical JSON.
Card fields follow Mitchell et al., "Model Cards for Model Reporting" (2019).
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ailedger.audit.schema import FeatureSchema
from ailedger.core.identity import canonical_json

PICKLE_PROTOCOL = 5


def serialize_model(estimator: Any) -> bytes:
    """The bytes a model id is computed over (pickle, fixed protocol)."""
    return pickle.dumps(estimator, protocol=PICKLE_PROTOCOL)


def model_id_of(estimator: Any) -> str:
    """SHA-256 (hex) of the serialized estimator."""
    return hashlib.sha256(serialize_model(estimator)).hexdigest()


class GroupFairness(BaseModel):
    """Fairness of the model's decisions across the groups of one protected attribute.

    Both differences are fairlearn's: demographic parity is the largest gap in
    approval rate between groups; equalized odds the larger of the largest gaps in
    true-positive and false-positive rate.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attribute: str
    groups: dict[str, int] = Field(description="group -> number of applications")
    selection_rate: dict[str, float] = Field(description="group -> share approved")
    demographic_parity_difference: float
    equalized_odds_difference: float


class TrainingData(BaseModel):
    """Where the training data came from and what it looks like."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str
    source: str
    sha256: str
    rows: int
    positive_rate: float
    excluded_attributes: tuple[str, ...]


class ModelCard(BaseModel):
    """The published description of one trained model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str
    model_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    model_type: str
    positive_label: str
    negative_label: str
    inputs: FeatureSchema
    training_data: TrainingData
    cv_folds: int
    cv_auc_mean: float
    cv_auc_std: float
    fairness_threshold: float
    fairness: tuple[GroupFairness, ...]
    intended_use: str
    limitations: tuple[str, ...]

    def to_json_dict(self) -> dict[str, Any]:
        """The card as JSON-ready data (the form that is hashed and published)."""
        return self.model_dump(mode="json")

    def card_hash(self) -> str:
        """SHA-256 (hex) of the card's canonical JSON."""
        return hashlib.sha256(canonical_json(self.to_json_dict())).hexdigest()
