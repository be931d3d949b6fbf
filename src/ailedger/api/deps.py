"""Request dependencies shared by the API and the dashboard: the open platform and write auth."""

from __future__ import annotations

import hmac

from fastapi import Header, Request

from ailedger.errors import UnauthorizedError
from ailedger.platform import Platform


def get_platform(request: Request) -> Platform:
    """The platform the app opened at startup (see ``create_app``'s lifespan)."""
    return request.app.state.platform


def require_writer(request: Request, authorization: str | None = Header(default=None)) -> None:
    """Writes need ``Authorization: Bearer <AILEDGER_API_TOKEN>``; with no token set, none pass."""
    expected = request.app.state.platform.settings.api_token
    if not expected:
        raise UnauthorizedError(
            "API writes are disabled: set AILEDGER_API_TOKEN on the server", field="authorization"
        )
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise UnauthorizedError("missing or wrong bearer token", field="authorization")
