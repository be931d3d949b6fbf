"""``HttpTransport`` against a hostile host process: answers are read within bounds."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from ailedger.services.transport import MAX_RESPONSE_BYTES, MAX_RESPONSE_DEPTH

# A host that answers GET /info with a body nested 200,000 deep, and GET /channels/1
# with a valid JSON object of 64 MB, streamed (never held in its memory).
HOSTILE_HOST = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Hostile(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            if self.path == "/info":
                self.wfile.write(b"[" * 200_000 + b"]" * 200_000)
                return
            self.wfile.write(b'{"pad": "')
            for _ in range(64):
                self.wfile.write(b"x" * (1 << 20))
            self.wfile.write(b'"}')

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hostile)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)

# The consumer side, in its own process: a crash there must show as its exit status.
CLIENT = textwrap.dedent(
    """
    import sys
    import ailedger.core.chain  # raises the recursion limit, as in the CLI
    from ailedger.errors import AILedgerError
    from ailedger.services.transport import HttpTransport

    transport = HttpTransport(sys.argv[1])
    try:
        answer = transport.info() if sys.argv[2] == "deep" else transport.channel(1)
    except AILedgerError as error:
        print("refused:", error.message)
    else:
        print("accepted", len(str(answer)))
    """
)


@pytest.fixture(scope="module")
def hostile_host() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOSTILE_HOST], stdout=subprocess.PIPE, text=True
    )
    port = process.stdout.readline().strip()
    yield f"http://127.0.0.1:{port}"
    process.kill()
    process.wait(timeout=30)


def _client(url: str, what: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CLIENT, url, what], capture_output=True, text=True, timeout=120
    )


def test_a_deeply_nested_answer_is_refused_without_crashing_the_client(hostile_host):
    result = _client(hostile_host, "deep")
    assert result.returncode == 0, result.stderr[-500:]
    assert f"answer nested deeper than {MAX_RESPONSE_DEPTH} levels; refused" in result.stdout


def test_an_oversized_answer_is_refused(hostile_host):
    result = _client(hostile_host, "big")
    assert result.returncode == 0, result.stderr[-500:]
    assert f"answer larger than {MAX_RESPONSE_BYTES} bytes; refused" in result.stdout
