"""How a client reaches a service host: over HTTP, or in process (same JSON either way)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ailedger.errors import (
    AILedgerError,
    ChainError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
)
from ailedger.http import json_depth
from ailedger.services.batches import BATCH_LINES_MEDIA_TYPE, encode_batch_lines
from ailedger.services.errors import (
    AmbiguousModelError,
    ModelDeprecatedError,
    NotYetAnchoredError,
    PaymentRequiredError,
)

if TYPE_CHECKING:
    import httpx

    from ailedger.services.host import ServiceHost

__all__ = [
    "MAX_RESPONSE_BYTES",
    "MAX_RESPONSE_DEPTH",
    "HttpTransport",
    "LocalTransport",
    "Transport",
]

# A host is a counterparty: what it answers is read only up to these bounds. The
# largest honest answer is a batch of MAX_BATCH outputs with their leaf hashes (well
# under 1 MB); receipts and proofs nest a few levels deep.
MAX_RESPONSE_BYTES = 16 << 20
MAX_RESPONSE_DEPTH = 64

_ERRORS: dict[str, type[AILedgerError]] = {
    cls.kind: cls
    for cls in (
        InvalidInputError,
        NotFoundError,
        UnauthorizedError,
        IntegrityError,
        ChainError,
        PaymentRequiredError,
        ModelDeprecatedError,
        AmbiguousModelError,
        NotYetAnchoredError,
    )
}


class Transport(Protocol):
    """The requests a client makes of a host; each returns the host's JSON."""

    def call(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def call_batch(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def channel(self, channel_id: int) -> dict[str, Any]: ...

    def proof(self, log_index: int) -> dict[str, Any]: ...

    def info(self) -> dict[str, Any]: ...


class LocalTransport:
    """A host in this process: no sockets, the same request and response objects."""

    def __init__(self, host: ServiceHost) -> None:
        self.host = host

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.host.handle(request)

    def call_batch(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.host.handle_batch(request)

    def channel(self, channel_id: int) -> dict[str, Any]:
        return self.host.channel_status(channel_id)

    def proof(self, log_index: int) -> dict[str, Any]:
        return self.host.proof(log_index)

    def info(self) -> dict[str, Any]:
        return self.host.info()


class HttpTransport:
    """A host at ``base_url`` (the listing's endpoint); host errors are raised again here."""

    def __init__(self, base_url: str, *, client: httpx.Client | None = None, timeout: float = 30):
        import httpx

        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._send("POST", "/call", json=request)

    def call_batch(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._send("POST", "/batch", json=request)

    def call_batch_encoded(
        self, request: dict[str, Any], encoded_inputs: Sequence[bytes]
    ) -> dict[str, Any]:
        """:meth:`call_batch` with ``request["inputs"]`` sent as ``encoded_inputs``.

        The client hashes each input's canonical JSON anyway (the receipt commits to
        it); those bytes go as they are, one a line (``POST /batch/lines``), and the
        host hashes what it received instead of encoding every input again.
        """
        envelope = {key: value for key, value in request.items() if key != "inputs"}
        return self._send(
            "POST",
            "/batch/lines",
            content=encode_batch_lines(envelope, encoded_inputs),
            headers={"content-type": BATCH_LINES_MEDIA_TYPE},
        )

    def channel(self, channel_id: int) -> dict[str, Any]:
        return self._send("GET", f"/channels/{channel_id}")

    def proof(self, log_index: int) -> dict[str, Any]:
        return self._send("GET", f"/proofs/{log_index}")

    def info(self) -> dict[str, Any]:
        return self._send("GET", "/info")

    def close(self) -> None:
        self._client.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import httpx

        url = self.base_url + path
        source = f"service at {self.base_url} ({method} {path})"
        try:
            with self._client.stream(method, url, **kwargs) as response:
                raw = _read_bounded(response, source)
        except httpx.HTTPError as error:
            raise ChainError(f"service at {self.base_url} is unreachable: {error}") from None
        body = _parse_bounded(raw, source)
        if response.is_success and isinstance(body, dict):
            return body
        if isinstance(body, dict) and "message" in body:
            cls = _ERRORS.get(str(body.get("error")), AILedgerError)
            raise cls(str(body["message"]), field=body.get("field"))
        raise AILedgerError(
            f"service at {self.base_url} answered {method} {path} with HTTP {response.status_code}",
            field="endpoint",
        )


def _read_bounded(response: httpx.Response, source: str) -> bytes:
    """The body of ``response``, refused (:class:`IntegrityError`) past MAX_RESPONSE_BYTES
    without reading the rest."""
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise IntegrityError(
                f"{source}: answer larger than {MAX_RESPONSE_BYTES} bytes; refused",
                field="response",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_bounded(raw: bytes, source: str) -> Any:
    """``raw`` as JSON, or None if it is not JSON; refused if it nests deeper than
    MAX_RESPONSE_DEPTH.

    The depth is counted before parsing: with the recursion limit the embedded chain's
    imports set, ``json.loads`` of a deeply nested answer overflows the C stack
    (a crash, not a RecursionError).
    """
    if json_depth(raw) > MAX_RESPONSE_DEPTH:
        raise IntegrityError(
            f"{source}: answer nested deeper than {MAX_RESPONSE_DEPTH} levels; refused",
            field="response",
        )
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None
