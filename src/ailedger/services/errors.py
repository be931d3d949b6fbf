"""Errors of paid calls, on top of :mod:`ailedger.errors` (the API maps ``http_status``)."""

from __future__ import annotations

from ailedger.errors import AILedgerError, InvalidInputError

__all__ = [
    "AmbiguousModelError",
    "ModelDeprecatedError",
    "NotYetAnchoredError",
    "PaymentRequiredError",
]


class PaymentRequiredError(AILedgerError):
    """A call's voucher is missing or does not pay for it (HTTP 402)."""

    kind = "payment_required"
    http_status = 402


class ModelDeprecatedError(AILedgerError):
    """The model was deprecated by its owner and takes no new calls or channels (HTTP 410)."""

    kind = "deprecated"
    http_status = 410


class AmbiguousModelError(InvalidInputError):
    """A bare model name that several owners registered; name the owner or the id (409)."""

    kind = "ambiguous"
    http_status = 409


class NotYetAnchoredError(AILedgerError):
    """A call record is logged but its batch is not yet signed and anchored (HTTP 425).

    The host anchors by its batch policy, never on a caller's demand (that would spend
    the operator's gas at anyone's request); ask again after the time the message names.
    """

    kind = "not_yet_anchored"
    http_status = 425
