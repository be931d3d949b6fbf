"""HTTP safety shared by every server ailedger runs: the API (``ailedger serve``) and
each model host (``ailedger services serve``).

:func:`harden` installs, on any FastAPI app:

- :class:`RequestGuard`, an ASGI middleware that reads each request body before any
  route does and refuses, with the error envelope, a body over
  ``max_body_bytes`` (413), JSON nested deeper than ``max_json_depth`` (400), a
  ``NaN``/``Infinity`` literal (422: not JSON, RFC 8259 §6) and a number with more
  digits than Python parses (400). The depth check is what keeps a hostile body from
  reaching a recursive parser at all; the recursion limit (capped in
  ``core/chain/embedded.py``) is the second line.
- (via :func:`offline_app`) ``/docs`` and ``/redoc`` whose Swagger UI and ReDoc
  assets come from the installed ``fastapi-offline`` wheel, not a CDN, and
  ``/favicon.ico``.
- one set of error handlers: :class:`~ailedger.errors.AILedgerError` -> its status
  and ``{"error", "message", "field"}``; request validation -> 422 naming the field,
  never echoing the input (a NaN or raw bytes cannot be put into a JSON answer);
  HTTP errors (unknown route, wrong method) and unexpected exceptions -> the same
  envelope. Messages lose the server's data dir path and CLI advice, which mean
  nothing to an HTTP client.

Example::

    >>> from fastapi import FastAPI
    >>> app = FastAPI()
    >>> harden(app, HttpPolicy(max_body_bytes=1024))
"""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from ailedger.config import Settings
from ailedger.errors import AILedgerError, InvalidInputError

__all__ = [
    "HttpPolicy",
    "MalformedBodyError",
    "RequestGuard",
    "RequestTooLargeError",
    "harden",
    "json_depth",
    "offline_app",
    "public_message",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_DEFAULTS = Settings.model_fields


class RequestTooLargeError(AILedgerError):
    """The request body is larger than the server accepts."""

    kind = "too_large"
    http_status = 413


class MalformedBodyError(InvalidInputError):
    """The request body cannot be parsed safely (nested too deep, absurd numbers)."""

    http_status = 400


@dataclass(frozen=True)
class HttpPolicy:
    """What a server accepts, and what its error messages must not show."""

    max_body_bytes: int = _DEFAULTS["max_body_bytes"].default
    max_json_depth: int = _DEFAULTS["max_json_depth"].default
    # Replaced by "the server's data dir" in every error message sent.
    data_dir: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpPolicy:
        """The limits ``settings`` configure, hiding its data dir."""
        return cls(settings.max_body_bytes, settings.max_json_depth, settings.home)


def offline_app(**options: Any) -> FastAPI:
    """A FastAPI app (``options`` as for ``FastAPI``) whose docs pages work offline.

    ``/docs`` and ``/redoc`` load their scripts from ``/static-offline-docs`` (files of
    the ``fastapi-offline`` package); ``/favicon.ico`` is that package's icon.
    """
    app = FastAPIOffline(favicon_url="/favicon.ico", **options)
    icon = files("fastapi_offline") / "static" / "favicon.png"

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(str(icon), media_type="image/png")

    return app


# -- body checks -------------------------------------------------------------------------------

# +1 for an opening bracket, -1 for a closing one, 0 for any other byte.
_NESTING_STEP = np.zeros(256, dtype=np.int8)
_NESTING_STEP[list(b"[{")] = 1
_NESTING_STEP[list(b"]}")] = -1
_QUOTE = ord('"')
# Python's json reads these, RFC 8259 has no such numbers, and a JSON answer cannot
# carry them back. Outside strings, JSON has no other capital letters.
_NON_JSON_NUMBERS = (b"NaN", b"-Infinity", b"Infinity")
_DIGITS_AS_D = bytes(ord("d") if b in b"0123456789" else ord(".") for b in range(256))


def _outside_strings(document: bytes) -> np.ndarray:
    """The bytes of ``document`` outside its JSON strings, in a few vectorised passes.

    Escapes are dropped first, left to right as a JSON parser reads them (backslash
    pairs, then backslash-quote), so every quote left opens or closes a string. Linear
    and about half the time of ``json.loads`` on the same bytes (a regular expression
    over the strings took 8x).
    """
    if b"\\" in document:
        document = document.replace(b"\\\\", b"").replace(b'\\"', b"")
    data = np.frombuffer(document, dtype=np.uint8)
    # The parity of the quotes so far: a uint8 running sum wraps, its low bit does not.
    inside = np.cumsum(data == _QUOTE, dtype=np.uint8) & 1
    return data[inside == 0]


def _depth(outside: np.ndarray) -> int:
    steps = _NESTING_STEP[outside]
    return int(np.cumsum(steps[steps != 0], dtype=np.int64).max(initial=0))


def json_depth(document: bytes) -> int:
    """How deep arrays and objects nest in ``document`` (0 for a scalar), without parsing.

    Linear and non-recursive, so it is safe on any input; for text that is not JSON
    the answer is at least the depth a JSON parser would reach before failing.
    """
    return _depth(_outside_strings(document))


def check_json_body(document: bytes, max_depth: int, *, strict: bool = True) -> None:
    """Raise the error a client should get for ``document``, or nothing if it is safe to parse.

    ``strict`` also refuses ``NaN``/``Infinity`` literals and numbers longer than
    Python parses (off for form fields, whose text is not JSON).
    """
    outside = _outside_strings(document)
    depth = _depth(outside)
    if depth > max_depth:
        raise MalformedBodyError(
            f"request body: JSON nested deeper than {max_depth} levels (got {depth})",
            field="body",
        )
    if not strict:
        return
    text = outside.tobytes()
    for literal in _NON_JSON_NUMBERS:
        if literal in text:
            raise InvalidInputError(
                f"request body: {literal.decode()} is not a JSON number (RFC 8259); "
                "send finite numbers",
                field="body",
            )
    max_digits = sys.get_int_max_str_digits()
    # Substring search, not a regex: "[0-9]{4301}" backtracks quadratically on long runs.
    if max_digits and b"d" * (max_digits + 1) in text.translate(_DIGITS_AS_D):
        raise MalformedBodyError(
            f"request body: a number with more than {max_digits} digits", field="body"
        )


class RequestGuard:
    """ASGI middleware: size, depth and literal checks on every request body (see module doc).

    The body is read here, chunk by chunk, and handed on unchanged to the app.
    """

    def __init__(self, app: ASGIApp, policy: HttpPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read_body(scope, receive)
            if body is None:  # the client went away mid-body: nothing to answer
                return
            if body:
                self._check(scope, body)
        except AILedgerError as error:
            await _error_response(error, self.policy)(scope, receive, send)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None if the client disconnected before sending it."""
        limit = self.policy.max_body_bytes
        too_large = RequestTooLargeError(
            f"request body is over this server's limit of {limit} bytes", field="body"
        )
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large  # refused before a byte of it is read
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _check(self, scope: Scope, body: bytes) -> None:
        content_type = (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
        if content_type == b"application/x-www-form-urlencoded":
            # A form field may hold a JSON document the route parses (the verify form).
            decoded = unquote_to_bytes(body.replace(b"+", b" "))
            check_json_body(decoded, self.policy.max_json_depth, strict=False)
        elif content_type.startswith(b"multipart/"):
            check_json_body(body, self.policy.max_json_depth, strict=False)
        else:
            check_json_body(body, self.policy.max_json_depth)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value
    return None


# -- error envelopes -----------------------------------------------------------------------------

# A clause that tells a terminal user which command to run ("; run `ailedger demo`").
_CLI_ADVICE = re.compile(r"[;:,]?\s*[^;:,]*`ailedger [^`]*`[^;]*")
_STATUS_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


def public_message(message: str, data_dir: Path | None) -> str:
    """``message`` as an HTTP client may see it: no server path, no CLI advice."""
    if data_dir is not None:
        message = message.replace(str(data_dir), "the server's data dir")
    return _CLI_ADVICE.sub("", message).strip()


def _envelope(
    status: int, kind: str, message: str, field: str | None, policy: HttpPolicy, **extra: Any
) -> JSONResponse:
    content = {"error": kind, "message": public_message(message, policy.data_dir), "field": field}
    return JSONResponse(status_code=status, content={**content, **extra})


def _error_response(error: AILedgerError, policy: HttpPolicy) -> JSONResponse:
    return _envelope(error.http_status, error.kind, error.message, error.field, policy)


def _validation_response(
    request: Request, error: RequestValidationError, policy: HttpPolicy
) -> JSONResponse:
    # Only loc, msg and type: "input" and "ctx" may hold NaN, bytes or exceptions,
    # which JSON cannot carry (the old handler crashed on them: 500, connection reset).
    problems = [
        {
            "loc": [str(part) for part in e.get("loc", ())],
            "msg": e.get("msg"),
            "type": e.get("type"),
        }
        for e in error.errors()
    ]
    first = problems[0] if problems else {"loc": [], "msg": "invalid request", "type": None}
    field = ".".join(part for part in first["loc"] if part != "body") or None
    message = f"{field}: {first['msg']}" if field else f"request body: {first['msg']}"
    content_type = request.headers.get("content-type")
    if first["loc"] == ["body"] and "json" not in (content_type or ""):
        got = repr(content_type) if content_type else "no Content-Type"
        message = f"request body must be JSON (Content-Type: application/json), got {got}"
    return _envelope(422, "invalid_input", message, field, policy, detail=problems)


def harden(app: FastAPI, policy: HttpPolicy) -> None:
    """Install :class:`RequestGuard` and the error envelopes on ``app``."""
    app.add_middleware(RequestGuard, policy=policy)

    @app.exception_handler(AILedgerError)
    async def _ailedger_error(_: Request, error: AILedgerError) -> JSONResponse:
        return _error_response(error, policy)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return _validation_response(request, error, policy)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        status = error.status_code
        if status == 404 and error.detail == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        else:
            message = str(error.detail)
        response = _envelope(status, _STATUS_KINDS.get(status, "error"), message, None, policy)
        response.headers.update(error.headers or {})
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, __: Exception) -> JSONResponse:
        # Details stay in the server log (Starlette logs the traceback), not in the answer.
        return _envelope(500, "internal", "internal server error", None, policy)
