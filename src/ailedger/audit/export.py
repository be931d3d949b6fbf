"""Regulator export: the decisions of a period as JSON Lines, each with its proof.

EU AI Act (Regulation (EU) 2024/1689), Article 12: high-risk AI systems -
creditworthiness assessment is one, Annex III 5(b) - must automatically record
events over their lifetime ("logs") so that their functioning can be traced.
Article 12(3) lists the minimum content for remote biometric identification;
we keep the same four items for credit decisions, mapped as follows. One line
per decision::

    {
      "decision_id": "...",
      "period_of_use": {"start": ..., "end": ...},         # Art. 12(3)(a)
      "reference_database": {                             # Art. 12(3)(b)
          "model_id", "model_card_hash", "model_name", "model_version",
          "training_data": {"description", "source", "sha256"}},
      "input_data": {"commitment", "scheme"},             # Art. 12(3)(c)
      "verification": {"operator": "0x..."},              # Art. 12(3)(d)
      "result": {"output", "score", "policy", "explanation"},
      "proof": {...} | null                               # see ailedger.audit.proofs
    }

* (a) period of use: a decision is one use of the system, instantaneous at the
  record's ``decided_at``; start and end are that time.
* (b) the reference data the input was checked against is the model itself and
  the data it was trained on, identified by hashes from the model card.
* (c) the input data: only its salted commitment. The raw input is personal
  data; an auditor holding the key can read it from the blob store, and the
  data subject can open the commitment with their salt.
* (d) the person responsible for verifying results: the operator account that
  made and logged the decision.

``proof`` is the decision's proof bundle, or ``null`` while its batch is not yet
anchored (export again after the batch closes to obtain it).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ailedger.audit.index import DecisionIndex
from ailedger.audit.model_card import ModelCard
from ailedger.audit.proofs import AnchoredHeads, build_proof_bundle, logged_record
from ailedger.errors import InvalidInputError

if TYPE_CHECKING:
    from ailedger.core.log import TransparencyLog


def export_decisions(
    since: datetime, until: datetime, log: TransparencyLog, index: DecisionIndex
) -> Iterator[dict[str, Any]]:
    """Every logged decision with ``since <= decided_at < until``, in log order."""
    for name, moment in (("since", since), ("until", until)):
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise InvalidInputError(
                f"{name} must be a timezone-aware datetime, got {moment!r}", field=name
            )
    if until <= since:
        raise InvalidInputError(
            f"until must be after since, got since {since.isoformat()} "
            f"and until {until.isoformat()}",
            field="until",
        )
    cards: dict[str, ModelCard] = {}
    anchored = AnchoredHeads(log)
    for entry in index.between(since, until):
        record = logged_record(entry.decision_id, log, index)
        card = cards.get(record.model_card_hash)
        if card is None:
            card = cards[record.model_card_hash] = index.card(record.model_card_hash)
        assert entry.leaf_index is not None
        proof = (
            build_proof_bundle(record.decision_id, log, index, anchored=anchored)
            if anchored.covering(entry.leaf_index) is not None
            else None
        )
        decided_at = record.to_json_dict()["decided_at"]
        yield {
            "decision_id": record.decision_id,
            "period_of_use": {"start": decided_at, "end": decided_at},
            "reference_database": {
                "model_id": record.model_id,
                "model_card_hash": record.model_card_hash,
                "model_name": card.name,
                "model_version": card.version,
                "training_data": {
                    "description": card.training_data.description,
                    "source": card.training_data.source,
                    "sha256": card.training_data.sha256,
                },
            },
            "input_data": {
                "commitment": record.input_commitment,
                "scheme": record.commitment_scheme,
            },
            "verification": {"operator": record.operator},
            "result": {
                "output": record.output,
                "score": record.score,
                "policy": record.policy.model_dump(mode="json"),
                "explanation": record.explanation.model_dump(mode="json"),
            },
            "proof": proof,
        }
