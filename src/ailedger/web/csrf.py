"""CSRF protection for the dashboard's form posts (double-submit cookie plus an origin check).

A page with a form sets a random token in a ``SameSite=Strict`` cookie and puts
the same token in a hidden field. A post is accepted only when both arrive and
match, and when its ``Origin`` (or, without one, ``Referer``) is this server: a
page on another site can neither read the cookie nor send it along, so a
cross-site form post is refused with 403 before anything parses its body.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

COOKIE = "ailedger_csrf"
FIELD = "csrf_token"
_TOKEN_BYTES = 32


def form_token(request: Request) -> str:
    """The token a form on this page must send back; kept in ``request.state`` until
    :func:`set_cookie` stores it in the browser."""
    token = getattr(request.state, "csrf_token", None) or request.cookies.get(COOKIE)
    if not _well_formed(token):
        token = secrets.token_urlsafe(_TOKEN_BYTES)
    request.state.csrf_token = token
    return token


def set_cookie(request: Request, response: Response) -> Response:
    """Store the page's form token in the cookie (when the page made one)."""
    token = getattr(request.state, "csrf_token", None)
    if token and token != request.cookies.get(COOKIE):
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


async def refusal(request: Request) -> str | None:
    """Why this form post must be refused (403), or None when it came from our own page."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source and source != "null" and urlsplit(source).netloc != request.headers.get("host"):
        return f"a form posted from another site ({urlsplit(source).netloc}) is refused"
    if source == "null":
        return "a form posted from an opaque origin is refused"
    cookie = request.cookies.get(COOKIE)
    sent = (await request.form()).get(FIELD)
    if (
        not _well_formed(cookie)
        or not isinstance(sent, str)
        or not hmac.compare_digest(cookie.encode(), sent.encode())
    ):
        return "the form's security token is missing or stale; reload the page and submit again"
    return None


def _well_formed(token: object) -> bool:
    return isinstance(token, str) and 32 <= len(token) <= 64 and token.isascii()
