"""Dashboard pages of the IoT fleet (``/ui/iot``) and of one device (``/ui/iot/devices/<address>``).

They read the registry cache and the message store of this data dir, afresh per
request; they write nothing but the cache's catch-up with the chain.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ailedger.api.deps import get_platform
from ailedger.core.chain import to_checksum
from ailedger.errors import NotFoundError
from ailedger.iot import fleet_stats
from ailedger.iot.node import iot_session
from ailedger.platform import Platform
from ailedger.web.charts import bar_chart, line_chart
from ailedger.web.routes import templates

router = APIRouter(prefix="/ui/iot", include_in_schema=False)
CHART_POINTS = 500


@router.get("", response_class=HTMLResponse)
def fleet_page(request: Request, platform: Platform = Depends(get_platform)) -> HTMLResponse:
    """Every device: kind, status, accepted and rejected messages; rejections by reason."""
    with iot_session(platform) as node:
        devices = node.cache.devices()
        stats = fleet_stats(node.store)
    totals = stats["totals"]
    return templates.TemplateResponse(
        request,
        "iot_fleet.html",
        {
            "devices": devices,
            "stats": stats["devices"],
            "accepted": sum(totals["accepted"].values()),
            "rejected": sum(totals["rejected"].values()),
            "reasons_chart": bar_chart(
                sorted(totals["rejected"].items()),
                title="Rejected messages by reason",
                value_label="messages",
            ),
        },
    )


@router.get("/devices/{address}", response_class=HTMLResponse)
def device_page(
    address: str, request: Request, platform: Platform = Depends(get_platform)
) -> HTMLResponse:
    """One device: its registry entry, counts by reason, its values with actions marked."""
    device = to_checksum(address, "address")
    with iot_session(platform) as node:
        info = node.cache.get(device)
        if info is None:
            raise NotFoundError(f"device {device} is not registered", field="address")
        stats = fleet_stats(node.store)["devices"].get(device, {"accepted": {}, "rejected": {}})
        messages = node.store.messages(device, limit=CHART_POINTS)
    readings, actions = [], []
    for stored in messages:
        message = json.loads(stored.record)["message"]
        if stored.type == "reading":
            value = message["values"][0]
            readings.append((stored.seq, value["value"] / 1000, value["unit"], value["name"]))
        else:
            actions.append(message)
    name = readings[0][3] if readings else "value"
    unit = readings[0][2] if readings else ""
    chart = line_chart(
        [(seq, value) for seq, value, _, _ in readings],
        title=f"{name} of the last {len(readings)} readings",
        value_label=unit,
        marks=[
            (a["triggerSeq"], a["kind"], f"{a['kind']} after reading {a['triggerSeq']}")
            for a in actions
        ],
    )
    return templates.TemplateResponse(
        request,
        "iot_device.html",
        {
            "info": info,
            "stats": stats,
            "chart": chart,
            "actions": actions[-20:],
            "recent": readings[-10:],
        },
    )
