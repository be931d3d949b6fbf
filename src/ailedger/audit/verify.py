"""Verification of a decision's proof bundle by a stranger.

A decision's bundle is the one proof format of :mod:`ailedger.core.log.bundle`
(bundle_type ``ailedger.audit.proof/v1``, the record as the decision record's
JSON); its checks are that module's, in that order. What is decision-specific
is the ``record`` check (a well-formed decision record whose outcome is what
its own policy gives for its score) and the ``operator`` check's subject: the
record's operator must be the log's admin, so nobody else can log a decision in
the operator's name.

Example::

    >>> verdict = verify_bundle(json.loads(Path("proof.json").read_text()), chain)  # doctest: +SKIP
    >>> verdict.ok, verdict.reason  # doctest: +SKIP
    (True, None)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from ailedger.audit.record import DecisionRecord
from ailedger.core.chain import Chain
from ailedger.core.log import bundle as proof_bundle
from ailedger.core.log.bundle import CHECKS, Check, CheckedRecord, RecordKind
from ailedger.core.trust import Pins
from ailedger.errors import InvalidInputError

BUNDLE_TYPE = "ailedger.audit.proof/v1"

__all__ = ["BUNDLE_TYPE", "CHECKS", "DECISIONS", "Check", "Verdict", "verify_bundle"]


def _decision_json(data: bytes) -> dict[str, Any]:
    return DecisionRecord.from_bytes(data).to_json_dict()


def _check_decision(value: Any) -> CheckedRecord:
    record = DecisionRecord.from_json_dict(value)
    expected = record.policy.outcome(record.score)
    if record.output != expected:
        raise InvalidInputError(
            f"output contradicts the record's policy: score {record.score} with threshold "
            f"{record.policy.threshold} gives {expected!r}, the record says {record.output!r}",
            field="output",
        )
    return CheckedRecord(
        data=record.to_bytes(),
        record_id=record.decision_id,
        detail=f"decision {record.decision_id}: {record.output} (score {record.score})",
        operator=record.operator,
        value=record,
    )


DECISIONS = proof_bundle.register_record_kind(
    RecordKind(BUNDLE_TYPE, "decision", _decision_json, _check_decision, logged_by="decided by")
)


class Verdict(proof_bundle.Verdict):
    """A decision bundle's verdict: ``decision_id`` and ``record`` (a
    :class:`DecisionRecord`) once the record check has passed."""

    @property
    def decision_id(self) -> str | None:
        return self.record_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "decision_id": self.decision_id,
            "reason": self.reason,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


def verify_bundle(bundle: Mapping[str, Any], chain: Chain, pins: Pins | None = None) -> Verdict:
    """Check a decision's proof bundle against the chain; see
    :func:`ailedger.core.log.bundle.verify_bundle`, whose checks these are."""
    verdict = proof_bundle.verify_bundle(bundle, chain, pins, kinds=(DECISIONS,))
    return Verdict(**{f.name: getattr(verdict, f.name) for f in fields(verdict)})
