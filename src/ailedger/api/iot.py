"""`/iot` API: devices post signed messages; anyone reads the fleet and its counts.

``POST /iot/readings`` takes exactly what a device publishes over MQTT (one
reading or action, at most ``MAX_PAYLOAD_BYTES``); the device's signature is
its authentication, so no API token is needed. The answer is 201 when
accepted; a rejection is answered in the API's error shape with the reason as
``field`` (413 oversized, 403 device or signature refused, 409 replayed or
stale sequence, 422 anything else) and counted like one from MQTT.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ailedger.api.deps import get_platform
from ailedger.iot import MAX_PAYLOAD_BYTES, Rejected, RejectReason, fleet_stats
from ailedger.iot.ingest import Ingester, LogWriter
from ailedger.iot.node import IotNode, open_iot
from ailedger.platform import Platform

router = APIRouter(prefix="/iot", tags=["iot"])

_STATUS = {
    RejectReason.OVERSIZED: 413,
    RejectReason.UNKNOWN_DEVICE: 403,
    RejectReason.SUSPENDED_DEVICE: 403,
    RejectReason.REVOKED_DEVICE: 403,
    RejectReason.BAD_SIGNATURE: 403,
    RejectReason.REPLAYED: 409,
    RejectReason.STALE_SEQ: 409,
}
_lock = threading.Lock()


class _IotState:
    """The node, ingester and log writer of one app, opened on first use."""

    def __init__(self, platform: Platform) -> None:
        self.node: IotNode = open_iot(platform)
        self.ingester: Ingester = self.node.ingester()
        self.writer: LogWriter = self.node.log_writer()


def _state(request: Request, platform: Platform = Depends(get_platform)) -> _IotState:
    with _lock:
        state = getattr(request.app.state, "iot", None)
        if state is None:
            state = request.app.state.iot = _IotState(platform)
        return state


async def _bounded_body(request: Request) -> bytes | None:
    """The body, or None as soon as it exceeds MAX_PAYLOAD_BYTES (the rest is not read)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PAYLOAD_BYTES:
            return None
    return bytes(body)


@router.post("/readings", status_code=201)
async def post_reading(request: Request, state: _IotState = Depends(_state)) -> JSONResponse:
    """Ingest one signed reading or action (the MQTT payload, as the request body)."""
    body = await _bounded_body(request)
    if body is None:  # cut off unread, still counted
        outcome = state.ingester.refuse(
            Rejected(RejectReason.OVERSIZED, f"body is over {MAX_PAYLOAD_BYTES} bytes")
        )
    else:
        outcome = state.ingester.ingest(body)
    if outcome.accepted:
        state.writer.drain()
        state.writer.log.poll()
        return JSONResponse(status_code=201, content=outcome.to_dict())
    assert outcome.reason is not None
    return JSONResponse(
        status_code=_STATUS.get(outcome.reason, 422),
        content={
            "error": "rejected",
            "message": outcome.detail,
            "field": str(outcome.reason),
            **outcome.to_dict(),
        },
    )


@router.get("/devices")
def list_devices(state: _IotState = Depends(_state)) -> list[dict[str, Any]]:
    """Every registered device with its status and message counts."""
    state.node.cache.sync()
    stats = fleet_stats(state.node.store)["devices"]
    return [
        {
            "device": d.device,
            "kind": d.kind,
            "status": d.status.label,
            "owner": d.owner,
            "key": d.key,
            "firmware_hash": "0x" + d.firmware_hash.hex(),
            **stats.get(d.device, {"accepted": {}, "rejected": {}}),
        }
        for d in state.node.cache.devices()
    ]


@router.get("/stats")
def stats(state: _IotState = Depends(_state)) -> dict[str, Any]:
    """Accepted per device and type, rejected per device and reason, and totals."""
    return fleet_stats(state.node.store)
