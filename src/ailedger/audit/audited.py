"""Make any scikit-learn-style classifier auditable.

:class:`AuditedModel` wraps a fitted binary classifier and its model card. Every
``decide``, ``predict`` or ``predict_proba`` call through it validates the
applications against the card's input schema, scores them, explains each score,
and appends one :class:`DecisionRecord` per application to the transparency
log before returning. Optionally the raw input is kept encrypted in the blob
store with its key wrapped for the auditor, so that only the auditor can read it.

Example::

    >>> audited = AuditedModel(trained.estimator, trained.card, log, operator="0x...",
    ...                        threshold=0.6, index=DecisionIndex(path))  # doctest: +SKIP
    >>> decision = audited.decide([application])[0]  # doctest: +SKIP
    >>> decision.record.output, decision.salt.hex()  # doctest: +SKIP
    ('approve', '9f1c...')
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ailedger.audit.explain import Explainer
from ailedger.audit.index import DecisionIndex, PendingDecision
from ailedger.audit.model_card import ModelCard, model_id_of
from ailedger.audit.record import (
    DecisionPolicy,
    DecisionRecord,
    commit_input,
    new_salt,
)
from ailedger.audit.schema import FeatureValue
from ailedger.core.chain.validation import to_checksum
from ailedger.core.identity import canonical_json
from ailedger.core.log.proofs import LeafRef
from ailedger.core.storage import BlobStore, unwrap_key, wrap_key
from ailedger.core.storage.keywrap import load_public_key
from ailedger.errors import IntegrityError, InvalidInputError

SCORE_DIGITS = 6


class DecisionLog(Protocol):
    """What the wrapper needs from a log (:class:`~ailedger.core.log.TransparencyLog`)."""

    def append_many(self, items: Iterable[bytes]) -> list[LeafRef]: ...


@dataclass(frozen=True)
class Decision:
    """One logged decision, with what only the operator and the data subject get.

    ``salt`` opens the record's input commitment: give it to the data subject.
    """

    record: DecisionRecord
    leaf_index: int
    leaf_hash: bytes
    salt: bytes = field(repr=False)
    blob_address: str | None = None


class AuditedModel:
    """A classifier whose every decision is recorded, explained and logged."""

    def __init__(
        self,
        estimator: Any,
        model_card: ModelCard,
        log: DecisionLog,
        operator: str | Any,
        threshold: float,
        storage: BlobStore | None = None,
        auditor_public_key: bytes | None = None,
        *,
        index: DecisionIndex | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        actual_id = model_id_of(estimator)
        if actual_id != model_card.model_id:
            raise IntegrityError(
                f"estimator does not match its model card: expected model id "
                f"{model_card.model_id}, got {actual_id}",
                field="model_card",
            )
        if storage is not None and auditor_public_key is None:
            raise InvalidInputError(
                "keeping raw inputs needs the auditor's public key to wrap their keys for",
                field="auditor_public_key",
            )
        if auditor_public_key is not None:
            load_public_key(auditor_public_key)  # fail now, not at the first decision
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise InvalidInputError(
                f"threshold must be a number, got {type(threshold).__name__}", field="threshold"
            )
        self.estimator = estimator
        self.card = model_card
        self.card_hash = model_card.card_hash()
        self.log = log
        self.operator = _operator_address(operator)
        self.policy = DecisionPolicy(threshold=float(threshold))
        self.storage = storage
        self.auditor_public_key = auditor_public_key
        self.index = index
        self.clock = clock or (lambda: datetime.now(UTC))
        self.explainer = Explainer(estimator, model_card.inputs.names)
        if index is not None:
            index.add_card(model_card)

    def decide(self, applications: Any) -> list[Decision]:
        """Score, explain and log each application; return the logged decisions.

        ``applications``: one mapping of feature to value, a sequence of them, or a
        pandas DataFrame. All are validated before anything is scored or logged,
        so a bad application raises ``InvalidInputError`` naming its feature and
        nothing is stored.
        """
        rows = [self.card.inputs.validate_application(a) for a in _as_rows(applications)]
        if not rows:
            return []
        frame = self.card.inputs.frame_from_columns(pd.DataFrame(rows))
        scores = self._positive_scores(frame)
        explanations = self.explainer.explain(frame)
        decided_at = self.clock().astimezone(UTC)

        records, pending = [], []
        for row, score, explanation in zip(rows, scores, explanations, strict=True):
            salt = new_salt()
            score = round(float(score), SCORE_DIGITS) + 0.0
            record = DecisionRecord(
                decision_id=secrets.token_hex(32),
                model_id=self.card.model_id,
                model_card_hash=self.card_hash,
                input_commitment=commit_input(row, salt),
                score=score,
                output=self.policy.outcome(score),
                policy=self.policy,
                explanation=explanation,
                decided_at=decided_at,
                operator=self.operator,
            )
            blob_address, wrapped = self._store_input(row)
            records.append((record, salt, blob_address))
            pending.append(
                PendingDecision(
                    decision_id=record.decision_id,
                    decided_at=decided_at,
                    salt=salt,
                    model_card_hash=self.card_hash,
                    blob_address=blob_address,
                    wrapped_key=wrapped,
                )
            )
        if self.index is not None:
            self.index.add_pending(pending)
        # One log transaction for the whole call: all records are durable, or none.
        refs = self.log.append_many([record.to_bytes() for record, _, _ in records])
        decisions = [
            Decision(record, ref.index, ref.leaf_hash, salt, blob_address)
            for (record, salt, blob_address), ref in zip(records, refs, strict=True)
        ]
        if self.index is not None:
            self.index.set_leaf_indexes({d.record.decision_id: d.leaf_index for d in decisions})
        return decisions

    def predict_proba(self, applications: Any) -> np.ndarray:
        """Like scikit-learn's: ``(n, 2)`` class probabilities; every row is logged."""
        scores = np.array([d.record.score for d in self.decide(applications)])
        return np.column_stack([1.0 - scores, scores])

    def predict(self, applications: Any) -> np.ndarray:
        """The decision outcome (``approve``/``deny``) per application; every row is logged."""
        return np.array([d.record.output for d in self.decide(applications)])

    def _positive_scores(self, frame: pd.DataFrame) -> np.ndarray:
        probabilities = np.asarray(self.estimator.predict_proba(frame), dtype=float)
        if probabilities.ndim != 2 or probabilities.shape[1] != 2:
            raise InvalidInputError(
                f"the estimator must be a binary classifier: expected 2 probability columns, "
                f"got shape {probabilities.shape}",
                field="estimator",
            )
        # scikit-learn orders classes_ ascending: the positive class (1, True) is last.
        return probabilities[:, 1]

    def _store_input(self, row: Mapping[str, FeatureValue]) -> tuple[str | None, bytes | None]:
        if self.storage is None or self.auditor_public_key is None:
            return None, None
        ref = self.storage.put(canonical_json(dict(row)))
        return ref.address, wrap_key(ref.key, self.auditor_public_key)


def read_stored_input(
    index: DecisionIndex, storage: BlobStore, decision_id: str, auditor_private_key: bytes
) -> dict[str, FeatureValue]:
    """The raw input of a decision, decrypted with the auditor's private key."""
    entry = index.get(decision_id)
    if entry.blob_address is None or entry.wrapped_key is None:
        raise InvalidInputError(
            f"decision {decision_id} was made without keeping its raw input",
            field="decision_id",
        )
    key = unwrap_key(entry.wrapped_key, auditor_private_key)
    return json.loads(storage.get(entry.blob_address, key))


def _as_rows(applications: Any) -> list[Any]:
    if isinstance(applications, pd.DataFrame):
        return applications.to_dict("records")
    if isinstance(applications, Mapping):
        return [applications]
    if isinstance(applications, Sequence) and not isinstance(applications, str | bytes):
        return list(applications)
    raise InvalidInputError(
        f"applications must be a mapping, a sequence of mappings or a DataFrame, "
        f"got {type(applications).__name__}",
        field="applications",
    )


def _operator_address(operator: Any) -> str:
    # A mistyped (bad-checksum) address is refused rather than silently re-checksummed.
    return to_checksum(getattr(operator, "address", operator), field="operator")
