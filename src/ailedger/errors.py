"""The one exception hierarchy of ailedger.

Every error a user can cause derives from :class:`AILedgerError`. The CLI turns
it into a one-line message and a non-zero exit status; the API into a 4xx JSON
body ``{"error": <kind>, "message": ..., "field": ...}``. Messages name what is
wrong and, where it helps, what was expected versus what was got. They never
contain key material or passwords.
"""

from __future__ import annotations


class AILedgerError(Exception):
    """Base class: a problem the caller can act on."""

    kind = "error"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        """The API's JSON error body: ``{"error": kind, "message": ..., "field": ...}``."""
        return {"error": self.kind, "message": self.message, "field": self.field}


class InvalidInputError(AILedgerError, ValueError):
    """Input is malformed, of the wrong type or out of range."""

    kind = "invalid_input"
    http_status = 422


class NotFoundError(AILedgerError, LookupError):
    """A named thing (account, contract, record) does not exist."""

    kind = "not_found"
    http_status = 404


class UnauthorizedError(AILedgerError):
    """The caller may not do this (wrong password, missing token, wrong signer)."""

    kind = "unauthorized"
    http_status = 403


class ChainError(AILedgerError):
    """The chain could not be reached or refused a request."""

    kind = "chain"
    http_status = 502


class RevertError(ChainError):
    """A contract call reverted; ``reason`` is the revert reason string."""

    kind = "revert"
    http_status = 409

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(f"transaction reverted: {reason}", field=field)
        self.reason = reason


class IntegrityError(AILedgerError):
    """Stored data failed a consistency or authenticity check (tampering, corruption)."""

    kind = "integrity"
    http_status = 409


class StorageError(AILedgerError):
    """A store could not be read or written: disk full, read-only, locked, connection lost.

    Nothing was acknowledged when it is raised; retrying later may succeed.
    """

    kind = "storage"
    http_status = 503
