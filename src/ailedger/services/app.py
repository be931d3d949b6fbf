"""The HTTP face of a :class:`ServiceHost` (``ailedger services serve <model>``).

Routes: ``POST /call`` (a paid call), ``POST /batch`` (N paid calls, one voucher),
``POST /batch/lines`` (the same batch, each input's canonical JSON on its own line),
``GET /info``, ``GET /channels/{id}``,
``GET /proofs/{log_index}``, ``GET /health``. Errors are JSON
``{"error", "message", "field"}`` with the error's HTTP status (402 for a voucher
that does not pay, 410 for a deprecated model).

While the app runs, a background thread re-reads the listing, claims what the
:class:`ClaimPolicy` says is due, closes log batches that are due and checkpoints
the voucher store against the log (bounding the replay at the next start); when the
app stops it claims every channel with something unclaimed, so a clean shutdown
leaves nothing to claim (a crash leaves the vouchers on disk for the next start).
"""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Body, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from ailedger.errors import AILedgerError
from ailedger.http import HttpPolicy, harden, offline_app
from ailedger.services.host import ServiceHost

__all__ = ["HostLoop", "create_host_app"]

_log = logging.getLogger(__name__)


class HostLoop:
    """Periodic upkeep of a host in a daemon thread: listing, claims, log batches, checkpoint.

    Rounds come every ``interval`` seconds, and at least twice per expiry margin of the
    host's :class:`ClaimPolicy`: a channel that enters the margin (no more vouchers
    taken) must be claimed before it expires and its consumer may reclaim; and at least
    once per age limit of the log's batch policy, which is the only way a batch closed
    by age gets anchored (``GET /proofs`` never anchors).
    """

    def __init__(self, host: ServiceHost, interval: float) -> None:
        self.host = host
        self.interval = min(interval, host.policy.expiry_margin / 2, host.log.policy.max_seconds)
        host.upkeep_interval = self.interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="service-host-loop", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def tick(self) -> None:
        """One round of upkeep; errors are logged, never raised (the next round retries)."""
        for step in (
            self.host.refresh_listing,
            self.host.claim_due,
            self.host.upkeep_log,
            self.host.checkpoint,
        ):
            try:
                step()
            except AILedgerError as error:
                _log.warning("service host upkeep (%s) failed: %s", step.__name__, error)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()


def create_host_app(
    host: ServiceHost,
    *,
    claim_interval: float = 30.0,
    close_on_shutdown: bool = True,
    policy: HttpPolicy | None = None,
) -> FastAPI:
    """The FastAPI app serving ``host``; upkeep every ``claim_interval`` seconds.

    ``policy`` bounds request bodies (default: the defaults of ``Settings``); pass
    ``HttpPolicy.from_settings(settings)`` to apply the configured ones.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        loop = HostLoop(host, claim_interval)
        loop.start()
        try:
            yield
        finally:
            loop.stop()
            try:
                claims = host.claim_all()
                _log.info("claimed %d channel(s) at shutdown", len(claims))
            finally:
                if close_on_shutdown:
                    host.close()

    # Batches are CPU-bound Python: worker threads interleaving two under the GIL
    # finish both late. Served one at a time, the first is answered sooner and its
    # client verifies it while the next is computed (measured: 11k -> 16k calls/s
    # with two channels in flight, benchmarks/services_calls.py).
    batch_turn = threading.Lock()
    app = offline_app(
        title=f"ailedger model service: {host.listing.name}",
        description="Pay per call with vouchers on an ailedger payment channel.",
        lifespan=lifespan,
    )

    harden(app, policy or HttpPolicy())

    @app.post("/call")
    def call(request: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """A paid call: ``{"input": {...}, "salt": "0x...", "voucher": {...}}``."""
        return host.handle(request)

    @app.post("/batch")
    def call_batch(request: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """N paid calls: ``{"inputs": [{...}, ...], "salt": "0x...", "voucher": {...}}``."""
        with batch_turn:
            return host.handle_batch(request)

    def batch_lines(body: bytes) -> dict[str, Any]:
        with batch_turn:
            return host.handle_batch_lines(body)

    @app.post("/batch/lines")
    async def call_batch_lines(request: Request) -> dict[str, Any]:
        """N paid calls as ``application/x-ndjson``: ``{"salt": ..., "voucher": ...}``,
        then one input's canonical JSON a line (what ``HttpTransport`` sends)."""
        # The raw body: the request hashes commit to each input's bytes as sent.
        return await run_in_threadpool(batch_lines, await request.body())

    @app.get("/info")
    def info() -> dict[str, Any]:
        return host.info()

    @app.get("/channels/{channel_id}")
    def channel(channel_id: int) -> dict[str, Any]:
        return host.channel_status(channel_id)

    @app.get("/proofs/{log_index}")
    def proof(log_index: int) -> dict[str, Any]:
        return host.proof(log_index)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "model": host.listing.name}

    return app
