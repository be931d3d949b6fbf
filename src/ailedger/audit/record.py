"""The decision record: what is appended to the transparency log for every decision.

A record holds no personal data. The applicant's input appears only as a salted
commitment ``sha256(salt || canonical_json(input))`` with a 32-byte random salt:
without the salt, even a low-entropy input (age, a handful of categories) cannot
be found by guessing. The salt goes to the data subject (and stays in the
operator's table), so the subject, who knows their own input, can show that this
record is about them and that the model saw exactly that input
(:func:`prove_commitment`).

The log stores :meth:`DecisionRecord.to_bytes`, the record's canonical JSON, so
anyone holding the record can recompute its leaf hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ailedger.audit.explain import Explanation
from ailedger.core.identity import canonical_json
from ailedger.errors import InvalidInputError

RECORD_TYPE = "ailedger.audit.decision/v1"
COMMITMENT_SCHEME = "sha256(salt32 || canonical_json(input))"
SALT_SIZE = 32

Hex32 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]


class DecisionPolicy(BaseModel):
    """How a score becomes an outcome: ``positive`` if score >= threshold, else ``negative``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(ge=0.0, le=1.0)
    positive: str = "approve"
    negative: str = "deny"

    def outcome(self, score: float) -> str:
        """``positive`` when ``score`` reaches the threshold, else ``negative``."""
        return self.positive if score >= self.threshold else self.negative


class DecisionRecord(BaseModel):
    """One automated decision, as published in the log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    record_type: Literal["ailedger.audit.decision/v1"] = RECORD_TYPE
    decision_id: Hex32 = Field(description="random 32-byte id, hex")
    model_id: Hex32 = Field(description="sha256 of the serialized model")
    model_card_hash: Hex32 = Field(description="sha256 of the model card's canonical JSON")
    input_commitment: Hex32
    commitment_scheme: Literal["sha256(salt32 || canonical_json(input))"] = COMMITMENT_SCHEME
    score: float = Field(ge=0.0, le=1.0, description="model probability of the positive class")
    output: str
    policy: DecisionPolicy
    explanation: Explanation
    decided_at: datetime
    operator: Address

    @field_validator("decided_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("decided_at must carry a timezone")
        return value.astimezone(UTC)

    def to_json_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return self.model_dump(mode="json")

    def to_bytes(self) -> bytes:
        """Canonical JSON: the exact bytes appended to the log."""
        return canonical_json(self.to_json_dict())

    @classmethod
    def from_json_dict(cls, data: object) -> DecisionRecord:
        """Parse and validate a record; ``InvalidInputError`` names the first bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "record"
            raise InvalidInputError(
                f"malformed decision record: {where}: {first['msg']}", field=where
            ) from None

    @classmethod
    def from_bytes(cls, data: bytes) -> DecisionRecord:
        """Parse a record from the log's bytes (which must be its canonical JSON)."""
        try:
            parsed = json.loads(data)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidInputError(
                f"malformed decision record: not JSON ({error})", field="record"
            ) from None
        record = cls.from_json_dict(parsed)
        if record.to_bytes() != bytes(data):
            raise InvalidInputError(
                "malformed decision record: bytes are not its canonical JSON", field="record"
            )
        return record


def new_salt() -> bytes:
    """A fresh 32-byte random salt."""
    return secrets.token_bytes(SALT_SIZE)


def commit_input(application: Mapping[str, Any], salt: bytes) -> str:
    """``sha256(salt || canonical_json(application))`` as hex."""
    if not isinstance(salt, bytes | bytearray) or len(salt) != SALT_SIZE:
        got = len(salt) if isinstance(salt, bytes | bytearray) else type(salt).__name__
        raise InvalidInputError(f"salt must be {SALT_SIZE} bytes, got {got}", field="salt")
    return hashlib.sha256(bytes(salt) + canonical_json(dict(application))).hexdigest()


def prove_commitment(application: Mapping[str, Any], salt: bytes, record: DecisionRecord) -> bool:
    """True if ``application`` with ``salt`` is exactly what ``record`` committed to."""
    return hmac.compare_digest(commit_input(application, salt), record.input_commitment)
