"""FastAPI application factory.

Example::

    >>> app = create_app(Settings(home="/tmp/ailedger-demo"))  # doctest: +SKIP
    >>> # uvicorn.run(app)
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import asdict

from fastapi import Depends, FastAPI

from ailedger import __version__
from ailedger.api import audit as audit_api
from ailedger.api import fl as fl_api
from ailedger.api import iot as iot_api
from ailedger.api import market as market_api
from ailedger.api import services as services_api
from ailedger.api.deps import get_platform
from ailedger.config import Settings
from ailedger.errors import InvalidInputError
from ailedger.http import HttpPolicy, harden, offline_app
from ailedger.platform import Platform


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API and dashboard over the data dir ``settings`` names.

    Refuses a write token without the keystore password: every write signs with a
    keystore account, so such a server would fail each write; better the operator
    hears it at start than every client later.
    """
    settings = settings or Settings()
    if settings.api_token and not settings.password:
        raise InvalidInputError(
            "AILEDGER_API_TOKEN is set but AILEDGER_PASSWORD is not: API writes sign with "
            "keystore accounts; set AILEDGER_PASSWORD, or unset the token to serve read-only",
            field="AILEDGER_PASSWORD",
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.platform = Platform.open(settings)
        try:
            yield
        finally:
            audit_api.shutdown(app)
            app.state.platform.close()

    app = offline_app(title="ailedger", version=__version__, lifespan=lifespan)

    harden(app, HttpPolicy.from_settings(settings))

    @app.get("/health", tags=["platform"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/chain", tags=["platform"])
    def chain(platform: Platform = Depends(get_platform)) -> dict:
        return asdict(platform.status())

    app.include_router(audit_api.router)
    app.include_router(services_api.router)
    app.include_router(market_api.router)
    app.include_router(iot_api.router)
    app.include_router(fl_api.router)

    from ailedger.web import audit as web_audit
    from ailedger.web import fl as web_fl
    from ailedger.web import iot as web_iot
    from ailedger.web import market as web_market
    from ailedger.web import routes as web_routes
    from ailedger.web import services as web_services

    app.include_router(web_routes.router)
    app.include_router(web_audit.router)
    app.include_router(web_services.router)
    app.include_router(web_market.router)
    app.include_router(web_iot.router)
    app.include_router(web_fl.router)
    web_routes.mount_static(app)
    return app
