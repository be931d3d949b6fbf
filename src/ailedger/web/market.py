"""The marketplace page: listings, pools, purchases and what each contributor earned."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from ailedger.api.deps import get_platform
from ailedger.errors import NotFoundError
from ailedger.market.catalog import open_catalog
from ailedger.market.contract import open_market
from ailedger.market.views import contributor_rows, market_overview
from ailedger.platform import Platform
from ailedger.web.charts import bar_chart
from ailedger.web.routes import templates

router = APIRouter(include_in_schema=False)
MAX_CHART_BARS = 60


@router.get("/market", response_class=HTMLResponse)
def market_page(
    request: Request,
    pool: int | None = Query(default=None, ge=1, description="Pool whose earnings to chart."),
    platform: Platform = Depends(get_platform),
) -> HTMLResponse:
    """Listings, pools, purchases, and the contributors' earnings of ``pool`` (default: last)."""
    try:
        market = open_market(platform)
    except NotFoundError:
        return templates.TemplateResponse(request, "market.html", {"overview": None})
    catalog = open_catalog(platform.settings, platform.chain.chain_id, market.address)
    try:
        overview = market_overview(market, catalog)
    finally:
        catalog.close()
    pools = overview["pools"]
    missing = None
    if pool is not None and pool > len(pools):  # pool ids are 1 .. count
        missing, pool = pool, None
    chosen = pool or (pools[-1]["pool_id"] if pools else None)
    contributors = contributor_rows(market, chosen) if chosen else []
    chart = bar_chart(
        [(f"#{i + 1}", row["earned_alt"]) for i, row in enumerate(contributors[:MAX_CHART_BARS])],
        title=f"ALT earned per contributor, pool {chosen}" if chosen else "ALT earned",
        value_label="ALT",
    )
    return templates.TemplateResponse(
        request,
        "market.html",
        {
            "overview": overview,
            "pool_id": chosen,
            "contributors": contributors,
            "earnings_chart": chart,
            "missing_pool": missing,
        },
        status_code=404 if missing else 200,
    )
