"""FastAPI application factory.

Example::

    >>> app = create_app(Settings(home="/tmp/ailedger-demo"))  # doctest: +SKIP
    >>> # uvicorn.run(app)
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import asdict

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ailedger import __version__
from ailedger.api import audit as audit_api
from ailedger.api import fl as fl_api
from ailedger.api import market as market_api
from ailedger.api import services as services_api
from ailedger.api.deps import get_platform
from ailedger.config import Settings
from ailedger.errors import AILedgerError
from ailedger.platform import Platform


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API and dashboard over the data dir ``settings`` names."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.platform = Platform.open(settings)
        try:
            yield
        finally:
            audit_api.shutdown(app)
            app.state.platform.close()

    app = FastAPI(title="ailedger", version=__version__, lifespan=lifespan)

    @app.exception_handler(AILedgerError)
    async def _ailedger_error(_: Request, error: AILedgerError) -> JSONResponse:
        return JSONResponse(status_code=error.http_status, content=error.to_dict())

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        field = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or None
        return JSONResponse(
            status_code=422,
            content={
                "error": "invalid_input",
                "message": first.get("msg", "invalid request"),
                "field": field,
                "detail": error.errors(),
            },
        )

    @app.get("/health", tags=["platform"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/chain", tags=["platform"])
    def chain(platform: Platform = Depends(get_platform)) -> dict:
        return asdict(platform.status())

    app.include_router(audit_api.router)
    app.include_router(services_api.router)
    app.include_router(market_api.router)
    app.include_router(fl_api.router)

    from ailedger.web import audit as web_audit
    from ailedger.web import fl as web_fl
    from ailedger.web import market as web_market
    from ailedger.web import routes as web_routes
    from ailedger.web import services as web_services

    app.include_router(web_routes.router)
    app.include_router(web_audit.router)
    app.include_router(web_services.router)
    app.include_router(web_market.router)
    app.include_router(web_fl.router)
    web_routes.mount_static(app)
    return app
