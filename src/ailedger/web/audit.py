"""Dashboard pages of auditable AI: decisions and why, anchored tree heads, a verify form.

Pages (under ``/ui/audit``)::

    /ui/audit/decisions        decisions, newest first, a page at a time, searchable by id
    /ui/audit/decisions/{id}   one decision: record, every feature's contribution, its proof
    /ui/audit/heads            the log's signed tree heads and their anchor transactions
    /ui/audit/verify           paste or upload a proof bundle, see VERIFIED or NOT VERIFIED and why

They read the log and the decision table afresh per request and the chain for
verification; none of them writes, and none shows a salt or a raw input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from ailedger.api.deps import get_platform
from ailedger.audit import Verdict, verify_bundle
from ailedger.audit.listing import MAX_LIMIT, head_history, open_decision_reader, recent_decisions
from ailedger.audit.proofs import AnchoredHeads, build_proof_bundle, logged_record
from ailedger.audit.verify import CHECKS
from ailedger.errors import NotFoundError
from ailedger.platform import Platform
from ailedger.web import csrf
from ailedger.web.charts import bar_chart
from ailedger.web.routes import templates

router = APIRouter(prefix="/ui/audit", include_in_schema=False)
LIST_TOP_FEATURES = 5
# A proof bundle is a few kilobytes; anything this large is not one.
MAX_BUNDLE_BYTES = 1_000_000


# -- per-feature contribution charts ----------------------------------------------------------


@dataclass(frozen=True)
class ContributionBar:
    """One feature's bar, right of the zero line if it raised the score, left if it lowered it."""

    label: str
    value: float
    x: float
    y: float
    width: float
    height: float
    raises: bool
    value_x: float


@dataclass(frozen=True)
class ContributionChart:
    """A decision's per-feature contributions as horizontal bars either side of zero."""

    title: str
    bars: tuple[ContributionBar, ...]
    width: int
    height: int
    zero_x: float
    label_x: float
    row_height: int

    @property
    def empty(self) -> bool:
        """Whether there is nothing to draw."""
        return not self.bars


def contribution_chart(
    contributions: dict[str, float],
    *,
    title: str,
    limit: int | None = None,
    width: int = 560,
    label_width: int = 190,
    row_height: int = 20,
) -> ContributionChart:
    """Lay out a diverging horizontal bar chart, largest effect first.

    Contributions are signed (log-odds), unlike :func:`ailedger.web.charts.bar_chart`'s
    values, so bars grow both ways from a zero line in the middle of the plot.
    """
    items = sorted(contributions.items(), key=lambda item: (-abs(item[1]), item[0]))[:limit]
    value_room = 52  # room for the value printed at each bar's end
    half = (width - label_width - 2 * value_room) / 2
    zero_x = label_width + value_room + half
    top = max((abs(value) for _, value in items), default=0.0) or 1.0
    bars = []
    for row, (label, value) in enumerate(items):
        length = half * abs(value) / top
        raises = value >= 0
        bars.append(
            ContributionBar(
                label=label,
                value=value,
                x=zero_x if raises else zero_x - length,
                y=row * row_height + 4,
                width=length,
                height=row_height - 6,
                raises=raises,
                value_x=zero_x + length + 4 if raises else zero_x - length - 4,
            )
        )
    return ContributionChart(
        title=title,
        bars=tuple(bars),
        width=width,
        height=len(bars) * row_height + 8,
        zero_x=zero_x,
        label_x=label_width - 6,
        row_height=row_height,
    )


# -- pages -----------------------------------------------------------------------------------


@router.get("/decisions", response_class=HTMLResponse)
def decisions_page(
    request: Request,
    platform: Platform = Depends(get_platform),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    page: int = Query(1, ge=1, description="Page of ``limit`` decisions, 1 = newest."),
    q: str = Query("", max_length=64, description="Decision id, or its first hex digits."),
) -> HTMLResponse:
    """Decisions, newest first, a page at a time, each with its explanation chart."""
    prefix = q.strip().lower().removeprefix("0x")
    if prefix.strip("0123456789abcdef"):
        prefix, bad_query = "", q
    else:
        bad_query = None
    with open_decision_reader(platform.settings) as (log, index):
        matching = index.count(prefix)
        pages = max(1, -(-matching // limit))
        page = min(page, pages)
        decisions = recent_decisions(log, index, limit, offset=(page - 1) * limit, id_prefix=prefix)
        total = index.count()
    rows = [
        {
            "decision": decision,
            "chart": contribution_chart(
                decision.record.explanation.contributions,
                title=f"Top reasons for decision {decision.record.decision_id[:12]}",
                limit=LIST_TOP_FEATURES,
                width=420,
                label_width=170,
                row_height=15,
            ),
        }
        for decision in decisions
    ]
    return templates.TemplateResponse(
        request,
        "audit_decisions.html",
        {
            "rows": rows,
            "total": total,
            "matching": matching,
            "limit": limit,
            "page": page,
            "pages": pages,
            "query": prefix,
            "bad_query": bad_query,
        },
    )


@router.get("/decisions/{decision_id}", response_class=HTMLResponse)
def decision_page(
    request: Request, decision_id: str, platform: Platform = Depends(get_platform)
) -> HTMLResponse:
    """One decision: its record, explanation, and the anchor that covers it (or pending)."""
    with open_decision_reader(platform.settings) as (log, index):
        try:
            record = logged_record(decision_id, log, index)
        except NotFoundError as error:
            return templates.TemplateResponse(
                request, "audit_not_found.html", {"message": error.message}, status_code=404
            )
        leaf_index = index.get(decision_id).leaf_index
        anchored = AnchoredHeads(log)
        bundle = None
        if leaf_index is not None and anchored.covering(leaf_index) is not None:
            bundle = build_proof_bundle(decision_id, log, index, anchored=anchored)
    explanation = record.explanation
    response = templates.TemplateResponse(
        request,
        "audit_decision.html",
        {
            "csrf_token": csrf.form_token(request),
            "record": record,
            "leaf_index": leaf_index,
            "bundle": bundle,
            "bundle_json": json.dumps(bundle, indent=2) if bundle else None,
            "chart": contribution_chart(
                explanation.contributions,
                title="What moved the score: contribution of each feature (log-odds)",
            ),
        },
    )
    return csrf.set_cookie(request, response)


@router.get("/heads", response_class=HTMLResponse)
def heads_page(request: Request, platform: Platform = Depends(get_platform)) -> HTMLResponse:
    """The decision log's signed tree heads with their anchor transactions."""
    with open_decision_reader(platform.settings) as (log, _):
        history = head_history(log)
        size = log.size
    anchored = [status for status in history if status.anchor is not None]
    anchored_size = max((s.head.head.tree_size for s in anchored), default=0)
    return templates.TemplateResponse(
        request,
        "audit_heads.html",
        {
            "history": history,
            "log_size": size,
            "anchored_count": len(anchored),
            "unanchored": size - anchored_size,
            "batches_chart": bar_chart(
                [(str(s.head.head.tree_size), s.batch_size) for s in reversed(anchored[:30])],
                title="Decisions per anchored batch (by tree size)",
                value_label="decisions",
            ),
        },
    )


@router.get("/verify", response_class=HTMLResponse)
def verify_form(request: Request) -> HTMLResponse:
    """An empty form to paste a proof bundle into, or to upload one."""
    return _verify_page(request, "", None, None)


@router.post("/verify", response_class=HTMLResponse)
async def verify_submit(
    request: Request,
    bundle: str = Form(""),
    bundle_file: UploadFile | None = File(None),
    platform: Platform = Depends(get_platform),
) -> HTMLResponse:
    """Verify the pasted or uploaded bundle against the chain only and show each check."""
    refused = await csrf.refusal(request)
    if refused:
        return _verify_page(request, "", None, refused, status_code=403)
    if bundle_file is not None and bundle_file.filename:
        raw = await bundle_file.read(MAX_BUNDLE_BYTES + 1)
        if len(raw) > MAX_BUNDLE_BYTES:
            return _verify_page(
                request, "", None, f"the file is larger than {MAX_BUNDLE_BYTES:,} bytes"
            )
        bundle = raw.decode("utf-8", errors="replace")
    verdict, error = None, None
    if not bundle.strip():
        error = "nothing to verify: paste a proof bundle or choose a file, then press Verify"
    else:
        try:
            parsed: Any = json.loads(bundle)
        except ValueError as problem:
            error = f"the bundle is not JSON: {problem}"
        else:
            if isinstance(parsed, dict):
                verdict = await run_in_threadpool(verify_bundle, parsed, platform.chain)
            else:
                error = f"a bundle is a JSON object, got a JSON {type(parsed).__name__}"
    return _verify_page(request, bundle, verdict, error, status_code=422 if error else 200)


def _verify_page(
    request: Request,
    bundle_text: str,
    verdict: Verdict | None,
    error: str | None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        "audit_verify.html",
        {
            "bundle_text": bundle_text,
            "verdict": verdict,
            "error": error,
            "not_run": _not_run,
            "csrf_token": csrf.form_token(request),
        },
        status_code=status_code,
    )
    return csrf.set_cookie(request, response)


def _not_run(verdict: Verdict) -> list[str]:
    """The checks verification stopped before (it stops at the first failure)."""
    done = {check.name for check in verdict.checks}
    return [name for name in CHECKS if name not in done]
