"""The README's command line walk-through runs top to bottom on a fresh data dir.

Every ```sh block from the "Command line" section on is run, in order, in one
bash session with ``set -euo pipefail`` (so an ``export`` carries over), in an
empty directory whose ``.venv`` is the environment running this test.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # runs the whole demo

README = Path(__file__).resolve().parents[1] / "README.md"
SERVED_PORT = 8102  # where the demo registers `credit`, which the walk-through serves


def walkthrough(readme: str) -> str:
    """The shell of every ```sh block after the "## Command line" heading, in order."""
    section = readme[readme.index("## Command line") :]
    return "\n".join(re.findall(r"^```sh\n(.*?)^```$", section, flags=re.M | re.S))


def test_the_walkthrough_is_the_commands_a_reader_sees():
    script = walkthrough(README.read_text())
    assert script.startswith("source .venv/bin/activate")
    for command in ("keys new alice", "demo", "audit verify", "services call credit"):
        assert f"ailedger {command}" in script
    assert "2026-" not in script  # dates are relative to today


def test_readme_commands_run_in_order_on_a_fresh_data_dir(tmp_path):
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", SERVED_PORT)) == 0:
            pytest.skip(f"port {SERVED_PORT} is taken; the walk-through serves a model there")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AILEDGER_")}
    env.update(AILEDGER_HOME=str(tmp_path / "home"), AILEDGER_KEYSTORE_SCRYPT_N="16")
    # Output goes to files, not pipes: a server the script left running would hold a pipe open.
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as stdout_file, err.open("w") as stderr_file:
        shell = subprocess.Popen(
            ["bash", "-c", "set -euxo pipefail\n" + walkthrough(README.read_text())],
            cwd=tmp_path,
            env=env,
            stdout=stdout_file,
            stderr=stderr_file,
            start_new_session=True,  # its own process group: nothing it started outlives it
        )
        try:
            shell.wait(timeout=1700)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGKILL)
    stdout, stderr = out.read_text(), err.read_text()
    assert shell.returncode == 0, stderr[-4000:]
    assert "Traceback" not in stderr
    assert "VERIFIED" in stdout
    assert "verified: credit call" in stdout
