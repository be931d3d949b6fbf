"""Start and stop Foundry's anvil (a local JSON-RPC EVM node) for tests and benchmarks.

The binary comes from the npm package ``@foundry-rs/anvil-linux-amd64``, installed
into ``.tools/`` by ``scripts/ensure-system-deps.sh``; ``anvil`` on ``PATH`` works too.
It listens on loopback only.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ailedger.errors import ChainError, NotFoundError

REPO_ROOT = Path(__file__).resolve().parents[4]
ANVIL_IN_REPO = REPO_ROOT / ".tools" / "node_modules" / ".bin" / "anvil"


def find_anvil() -> Path | None:
    """The anvil binary: the repo's ``.tools`` copy, else one on ``PATH``, else ``None``."""
    if ANVIL_IN_REPO.exists():
        return ANVIL_IN_REPO
    found = shutil.which("anvil")
    return Path(found) if found else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def run_anvil(
    *,
    chain_id: int = 31337,
    port: int | None = None,
    startup_timeout: float = 30.0,
    genesis_timestamp: int | None = None,
) -> Iterator[str]:
    """Run anvil on loopback while the block is active; yield its URL.

    ``genesis_timestamp`` fixes the genesis block's time (and so its hash), which
    otherwise is the start time.

    Raises ``NotFoundError`` when the binary is missing and ``ChainError`` when it
    exits or does not listen within ``startup_timeout`` seconds.
    """
    binary = find_anvil()
    if binary is None:
        raise NotFoundError(
            f"anvil not found at {ANVIL_IN_REPO} or on PATH; run scripts/ensure-system-deps.sh",
            field="anvil",
        )
    port = port or free_port()
    process = subprocess.Popen(
        [
            str(binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chain-id",
            str(chain_id),
            "--silent",
            *(["--timestamp", str(genesis_timestamp)] if genesis_timestamp is not None else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None:
                    stderr = (
                        process.stderr.read().decode(errors="replace") if process.stderr else ""
                    )
                    raise ChainError(
                        f"anvil exited with status {process.returncode}: {stderr.strip()}"
                    ) from None
                if time.monotonic() > deadline:
                    raise ChainError(
                        f"anvil did not listen on port {port} within {startup_timeout} s"
                    ) from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
