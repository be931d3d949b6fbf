"""How a client reaches a service host: over HTTP, or in process (same JSON either way)."""

from __future__ import annotations

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
from ailedger.services.batches import BATCH_LINES_MEDIA_TYPE, encode_batch_lines
from ailedger.services.errors import (
    AmbiguousModelError,
    ModelDeprecatedError,
    PaymentRequiredError,
)

if TYPE_CHECKING:
    import httpx

    from ailedger.services.host import ServiceHost

__all__ = ["HttpTransport", "LocalTransport", "Transport"]

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
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise ChainError(f"service at {self.base_url} is unreachable: {error}") from None
        try:
            body = response.json()
        except (ValueError, RecursionError):  # not JSON, or nested to exhaust our stack
            body = None
        if response.is_success and isinstance(body, dict):
            return body
        if isinstance(body, dict) and "message" in body:
            cls = _ERRORS.get(str(body.get("error")), AILedgerError)
            raise cls(str(body["message"]), field=body.get("field"))
        raise AILedgerError(
            f"service at {self.base_url} answered {method} {path} with HTTP {response.status_code}",
            field="endpoint",
        )
