"""Dashboard pages. Each page gathers data through the platform and domains, then renders."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ailedger.api.deps import get_platform
from ailedger.core.chain import BlockInfo
from ailedger.platform import Platform
from ailedger.web.charts import bar_chart

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["alt"] = lambda wei: f"{wei / 10**18:,.2f}"
templates.env.filters["utc"] = lambda ts: datetime.fromtimestamp(ts, UTC).strftime(
    "%Y-%m-%d %H:%M:%S UTC"
)
templates.env.filters["short"] = lambda h: f"{h[:10]}…{h[-6:]}" if len(h) > 20 else h

router = APIRouter(include_in_schema=False)
RECENT_BLOCKS = 20


def mount_static(app: FastAPI) -> None:
    """Serve the dashboard's stylesheet and images under ``/static``."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


@router.get("/", response_class=HTMLResponse)
def home(request: Request, platform: Platform = Depends(get_platform)) -> HTMLResponse:
    """The chain at a glance: id, head, contracts, ALT supply and holders, recent blocks."""
    status = platform.status()
    first = max(0, status.head_block - RECENT_BLOCKS + 1)
    blocks = [platform.chain.get_block(n) for n in range(first, status.head_block + 1)]
    # The embedded chain mines one block per transaction, so "transactions per block"
    # would always read 1; the gas a block used says how much work it carried.
    gas = {b.number: _gas_used(platform, b) for b in blocks}
    holders = []
    if "ALTToken" in status.contracts:
        token = platform.contract("ALTToken")
        holders = [(info.name, token.balanceOf(info.address)) for info in platform.keystore.list()]
    return templates.TemplateResponse(
        request,
        "home.html",
        {
            "status": status,
            "blocks": list(reversed(blocks)),
            "gas": gas,
            "activity_chart": bar_chart(
                [(str(b.number), gas[b.number]) for b in blocks],
                title=f"Gas used by the last {len(blocks)} blocks",
                value_label="gas",
            ),
            "holders_chart": bar_chart(
                [(name, balance / 10**18) for name, balance in holders],
                title="ALT balance per account",
                value_label="ALT",
            ),
        },
    )


def _gas_used(platform: Platform, block: BlockInfo) -> int:
    return sum(platform.chain.wait_for_receipt(tx).gas_used for tx in block.tx_hashes)
