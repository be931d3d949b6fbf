"""Audit API: score and log credit decisions, fetch their proofs, verify proof bundles.

Routes (under ``/audit``)::

    POST /audit/decisions          (write)  score one credit application, log the decision
    GET  /audit/decisions?limit=            recent decisions, newest first
    GET  /audit/decisions/{id}              the record and its proof bundle
    POST /audit/anchor             (write)  close the open batch now: sign and anchor its head
    GET  /audit/heads                       the log's signed tree heads and their anchors
    POST /audit/verify                      check a proof bundle against the chain only

Which model decides: the data dir's *served* model
(:func:`ailedger.audit.model_store.served_credit_model`), loaded by the id in
``<home>/audit/models/served``; on the first decision of a fresh data dir the
credit model is trained (about a second) and stored there.

When a decision is anchored: by the log's batch policy, not per request, so that
one anchor transaction covers a whole batch. A batch closes when it reaches
``policy.max_records`` (checked on every append) or is ``policy.max_seconds`` old
(a background poller checks every ``poll_seconds``); ``POST /audit/anchor``
closes it at once. Until then ``GET /audit/decisions/{id}`` answers 409
``not_anchored``. The salt of a decision's input commitment is returned once, to
the writer who submitted the application, and never by a read route.

While the server runs it should be the decision log's only writer; if another
process (``ailedger demo``) appended meanwhile, the next decision reopens the log
and retries once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, create_model

from ailedger.api.deps import get_platform, require_writer
from ailedger.audit import AuditedModel, Decision, FeatureSchema, credit_schema, verify_bundle
from ailedger.audit.listing import (
    DECISION_LOG,
    MAX_LIMIT,
    HeadStatus,
    head_history,
    is_anchored,
    open_decision_reader,
    recent_decisions,
)
from ailedger.audit.model_store import served_credit_model
from ailedger.audit.proofs import AnchoredHeads, build_proof_bundle, logged_record
from ailedger.audit.scenario import open_decision_index
from ailedger.config import Settings
from ailedger.core.log import (
    BatchPolicy,
    LeafRef,
    SignedTreeHead,
    TransparencyLog,
    open_store,
    promise_for,
)
from ailedger.errors import AILedgerError, IntegrityError
from ailedger.platform import Platform

_log = logging.getLogger(__name__)

DecisionId = Annotated[
    str, Path(pattern=r"^[0-9a-f]{64}$", description="The decision's id, 64 hex digits.")
]


class NotAnchoredError(AILedgerError):
    """The decision is logged but no anchored tree head covers it yet."""

    kind = "not_anchored"
    http_status = 409


@dataclass(frozen=True)
class AuditOptions:
    """How the API batches anchors; set ``app.state.audit_options`` before the first request."""

    policy: BatchPolicy = field(default_factory=BatchPolicy)
    # None: no background poller; batches then close by size or POST /audit/anchor only.
    poll_seconds: float | None = 5.0


# -- request and response bodies ---------------------------------------------------------


def application_model(schema: FeatureSchema) -> type[BaseModel]:
    """A pydantic model of one application: every feature required, categories as enums."""
    fields: dict[str, Any] = {}
    for spec in schema.features:
        if spec.kind == "categorical":
            annotation: Any = Literal[spec.categories]  # type: ignore[valid-type]
        else:
            # strict: "12" is not a number; ge=0: no credit attribute is negative.
            annotation = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
        fields[spec.name] = (annotation, Field(description=spec.description))
    return create_model(
        "CreditApplication",
        __config__=ConfigDict(extra="forbid"),
        __doc__="One credit application, in the German Credit attributes the model uses.",
        **fields,
    )


CreditApplication = application_model(credit_schema())


class DecisionCreated(BaseModel):
    """A logged decision, with what only the applicant should get: the salt."""

    decision_id: str
    leaf_index: int
    leaf_hash: str
    salt: str = Field(description="opens the record's input commitment; give it to the applicant")
    application: dict[str, Any] = Field(description="the input exactly as committed")
    record: dict[str, Any]
    anchored: bool
    promise: dict[str, Any] = Field(
        description="the log key's signed promise to anchor this leaf within max_delay_ms; "
        "check it with `ailedger audit check-promise`"
    )


class LoggedDecisionOut(BaseModel):
    """A logged decision as public routes show it: no salt, no input."""

    decision_id: str
    leaf_index: int
    anchored: bool
    record: dict[str, Any]


class DecisionWithProof(BaseModel):
    """A decision's record and its self-contained proof bundle."""

    decision_id: str
    leaf_index: int
    record: dict[str, Any]
    bundle: dict[str, Any]


class ProofBundle(BaseModel):
    """A proof bundle (as written by ``ailedger audit proof``); contents are checked by verify."""

    model_config = ConfigDict(extra="allow")

    bundle_type: str
    record: dict[str, Any]
    leaf_hash: str
    inclusion_proof: dict[str, Any]
    tree_head: dict[str, Any]
    anchor: dict[str, Any]


class CheckOut(BaseModel):
    """One check of a proof bundle and what it found."""

    name: str
    ok: bool
    detail: str


class VerdictOut(BaseModel):
    """The verdict on a proof bundle: ``ok`` only if every check passed."""

    ok: bool
    decision_id: str | None
    reason: str | None = Field(description="the first failed check, or null")
    checks: list[CheckOut]


class HeadOut(BaseModel):
    """A signed tree head of the decision log and its anchor, if anchored."""

    tree_size: int
    batch_size: int
    root_hash: str
    timestamp: int
    anchor: dict[str, Any] | None


class AnchorOut(BaseModel):
    """What ``POST /audit/anchor`` anchored."""

    anchored_heads: list[HeadOut] = Field(description="heads anchored by this call, oldest first")


# -- the long-lived writer -----------------------------------------------------------------


class AuditService:
    """One served model deciding into one anchored log, and the poller that closes batches."""

    def __init__(
        self,
        settings: Settings,
        log: TransparencyLog,
        audited: AuditedModel,
        poll_seconds: float | None,
    ) -> None:
        self.settings = settings
        self.log = log
        self.audited = audited
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        if poll_seconds is not None:
            self._poller = threading.Thread(
                target=self._poll_forever, args=(poll_seconds,), name="audit-poller", daemon=True
            )
            self._poller.start()

    @classmethod
    def start(cls, platform: Platform, options: AuditOptions) -> AuditService:
        """Load (or train) the served model and open the decision log with its anchorer."""
        # The log first: without a deployed AnchorRegistry it fails before any training.
        log = platform.open_log(DECISION_LOG, options.policy)
        index = None
        try:
            trained = served_credit_model(platform.settings)
            index = open_decision_index(platform.settings)
            audited = AuditedModel(
                trained.estimator,
                trained.card,
                log,
                operator=platform.operator,
                # The card's fairness metrics were measured at this threshold.
                threshold=trained.card.fairness_threshold,
                index=index,
            )
        except BaseException:
            if index is not None:
                index.close()
            log.close()
            raise
        return cls(platform.settings, log, audited, options.poll_seconds)

    def decide(self, application: dict[str, Any]) -> Decision:
        """Score, explain and log one application (validated by the card's schema)."""
        with self._lock:
            try:
                return self.audited.decide(application)[0]
            except IntegrityError:
                # Most likely another process appended to the log: our tree is stale.
                self._reopen_log()
                return self.audited.decide(application)[0]

    def anchor(self) -> list[SignedTreeHead]:
        """Close the open batch now and anchor every pending head; return the new heads."""
        with self._lock:
            before = {a.tree_size for a in self.log.anchors()}
            self.log.close_batch()
            heads = {h.head.tree_size: h for h in self.log.heads()}
            return [heads[a.tree_size] for a in self.log.anchors() if a.tree_size not in before]

    def close(self) -> None:
        """Stop the poller, then close the log and the decision index."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=30)
        with self._lock:
            self.log.close()
            if self.audited.index is not None:
                self.audited.index.close()

    def _reopen_log(self) -> None:
        old = self.log
        self.log = TransparencyLog(
            open_store(self.settings, name=DECISION_LOG), anchorer=old.anchorer, policy=old.policy
        )
        self.audited.log = self.log
        old.close()

    def _poll_forever(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            try:
                with self._lock:
                    self.log.poll()
            except Exception:  # keep polling: the records are durable, the head stays pending
                _log.exception("closing the decision batch failed; retrying in %ss", seconds)


_start_lock = threading.Lock()


def get_audit_service(request: Request) -> AuditService:
    """The app's audit service, started on first use (needs the deployed AnchorRegistry)."""
    state = request.app.state
    with _start_lock:
        service = getattr(state, "audit_service", None)
        if service is None:
            options = getattr(state, "audit_options", None) or AuditOptions()
            service = state.audit_service = AuditService.start(state.platform, options)
    return service


def shutdown(app: FastAPI) -> None:
    """Stop the poller and close the log (call from the app's lifespan)."""
    service = getattr(app.state, "audit_service", None)
    if service is not None:
        app.state.audit_service = None
        service.close()


# -- routes ----------------------------------------------------------------------------------

router = APIRouter(prefix="/audit", tags=["audit"])


@router.post(
    "/decisions",
    status_code=201,
    response_model=DecisionCreated,
    dependencies=[Depends(require_writer)],
)
def create_decision(application: CreditApplication, request: Request) -> dict[str, Any]:  # type: ignore[valid-type]
    """Score one credit application with the served model and log the decision."""
    # Started here rather than as a dependency, so an invalid body never trains a model.
    service = get_audit_service(request)
    values = application.model_dump()  # type: ignore[attr-defined]
    decision = service.decide(values)
    return {
        "decision_id": decision.record.decision_id,
        "leaf_index": decision.leaf_index,
        "leaf_hash": "0x" + decision.leaf_hash.hex(),
        "salt": decision.salt.hex(),
        "application": values,
        "record": decision.record.to_json_dict(),
        "anchored": is_anchored(service.log, decision.leaf_index),
        "promise": promise_for(
            service.log, LeafRef(decision.leaf_index, decision.leaf_hash)
        ).to_dict(),
    }


@router.get("/decisions", response_model=list[LoggedDecisionOut])
def list_decisions(
    platform: Platform = Depends(get_platform),
    limit: int = Query(20, ge=1, le=MAX_LIMIT, description="How many, newest first."),
) -> list[dict[str, Any]]:
    """The latest logged decisions, newest first (no salts, no inputs: these are public)."""
    with open_decision_reader(platform.settings) as (log, index):
        return [
            {
                "decision_id": d.record.decision_id,
                "leaf_index": d.leaf_index,
                "anchored": d.anchored,
                "record": d.record.to_json_dict(),
            }
            for d in recent_decisions(log, index, limit)
        ]


@router.get(
    "/decisions/{decision_id}",
    response_model=DecisionWithProof,
    responses={404: {"description": "unknown decision"}, 409: {"description": "not anchored"}},
)
def get_decision(
    decision_id: DecisionId, platform: Platform = Depends(get_platform)
) -> dict[str, Any]:
    """A decision's record and its self-contained proof bundle."""
    with open_decision_reader(platform.settings) as (log, index):
        record = logged_record(decision_id, log, index)  # 404 if unknown
        leaf_index = index.get(decision_id).leaf_index
        assert leaf_index is not None
        anchored = AnchoredHeads(log)
        if anchored.covering(leaf_index) is None:
            raise NotAnchoredError(
                f"decision {decision_id} (log entry {leaf_index}) is logged but not anchored "
                f"yet: its batch closes by the log's batch policy, or at POST /audit/anchor",
                field="decision_id",
            )
        bundle = build_proof_bundle(decision_id, log, index, anchored=anchored)
    return {
        "decision_id": decision_id,
        "leaf_index": leaf_index,
        "record": record.to_json_dict(),
        "bundle": bundle,
    }


@router.post("/anchor", response_model=AnchorOut, dependencies=[Depends(require_writer)])
def anchor_now(request: Request) -> dict[str, Any]:
    """Close the open batch now: sign its tree head and anchor it with one transaction."""
    service = get_audit_service(request)
    sizes = [signed.head.tree_size for signed in service.anchor()]
    history = {status.head.head.tree_size: status for status in head_history(service.log)}
    return {"anchored_heads": [_head_out(history[size]) for size in sizes]}


@router.get("/heads", response_model=list[HeadOut])
def list_heads(platform: Platform = Depends(get_platform)) -> list[dict[str, Any]]:
    """The decision log's signed tree heads, newest first, with where each was anchored."""
    with open_decision_reader(platform.settings) as (log, _):
        return [_head_out(status) for status in head_history(log)]


@router.post("/verify", response_model=VerdictOut)
def verify(bundle: ProofBundle, platform: Platform = Depends(get_platform)) -> dict[str, Any]:
    """Check a bundle with the chain only; a tampered bundle gives ``ok: false`` and why."""
    return verify_bundle(bundle.model_dump(), platform.chain).to_dict()


def _head_out(status: HeadStatus) -> dict[str, Any]:
    head = status.head.head
    return {
        "tree_size": head.tree_size,
        "batch_size": status.batch_size,
        "root_hash": "0x" + head.root_hash.hex(),
        "timestamp": head.timestamp,
        "anchor": status.anchor.to_dict() if status.anchor else None,
    }
