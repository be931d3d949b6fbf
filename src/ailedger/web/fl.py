"""Dashboard page of federated jobs (``/ui/fl``): accuracy per round, scores, rewards, flags.

Read from the ``fl`` log afresh per request (the records a stranger can prove); it
writes nothing. ``?job=N`` picks a job; the last one by default.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ailedger.api.deps import get_platform
from ailedger.core.log import TransparencyLog, open_store
from ailedger.errors import NotFoundError
from ailedger.federated import LOG_NAME
from ailedger.federated.records import job_records, latest_job_id
from ailedger.federated.views import hospital_rows
from ailedger.platform import Platform
from ailedger.web.charts import bar_chart
from ailedger.web.routes import templates

router = APIRouter(prefix="/ui/fl", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def fl_page(
    request: Request, job: int | None = None, platform: Platform = Depends(get_platform)
) -> HTMLResponse:
    log = TransparencyLog(open_store(platform.settings, name=LOG_NAME))
    try:
        job_id = latest_job_id(log) if job is None else job
        records = job_records(log, job_id)
    except NotFoundError:
        records = []
    finally:
        log.close()
    context: dict = {"records": records}
    if records:
        rounds = [r for r in records if r["kind"] == "fl.round"]
        hospitals = hospital_rows(records)
        context.update(
            job=records[0],
            rounds=rounds,
            hospitals=hospitals,
            rejected=[r for r in records if r.get("status") == "rejected"],
            accuracy_chart=bar_chart(
                [(f"round {r['round']}", r["metrics"]["accuracy"]) for r in rounds],
                title=f"Test accuracy per round ({records[0]['strategy']})",
                value_label="accuracy",
            ),
            rewards_chart=bar_chart(
                [(h["hospital"], h["earned"] / 10**18) for h in hospitals],
                title="ALT earned per hospital",
                value_label="ALT",
            ),
        )
    return templates.TemplateResponse(request, "fl.html", context)
