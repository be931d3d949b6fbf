"""Dashboard page of tokenized AI services (``/ui/services``): services, channels, calls, earnings.

It reads the registry and the channels from the chain and the hosts' voucher stores
in this data dir, afresh per request; it writes nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ailedger.api.deps import get_platform
from ailedger.errors import NotFoundError
from ailedger.platform import Platform
from ailedger.web.charts import bar_chart
from ailedger.web.routes import templates

router = APIRouter(prefix="/ui/services", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def services_page(request: Request, platform: Platform = Depends(get_platform)) -> HTMLResponse:
    from ailedger.services.overview import ServicesOverview, services_overview

    try:
        overview = services_overview(platform)
        deployed = True
    except NotFoundError:
        overview, deployed = ServicesOverview(), False
    calls = overview.calls_per_model()
    paid = {
        listing.name: calls.get(listing.name, 0) * listing.price for listing in overview.listings
    }
    return templates.TemplateResponse(
        request,
        "services.html",
        {
            "deployed": deployed,
            "overview": overview,
            "calls": calls,
            "earned": sum(e.claimed for e in overview.earnings),
            "calls_chart": bar_chart(
                list(calls.items()), title="Paid calls per service", value_label="calls"
            ),
            "paid_chart": bar_chart(
                [(name, wei / 10**18) for name, wei in paid.items()],
                title="ALT paid per service",
                value_label="ALT",
            ),
        },
    )
