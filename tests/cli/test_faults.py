"""Ordinary file problems end every command with one line on stderr, never a traceback.

The faults are real, made in a user and mount namespace (`unshare -rm`): a
read-only data dir is a read-only bind mount; a full one is a copy of it on a
small tmpfs whose free space a filler file used up (writes fail with ENOSPC). A
damaged database is a truncated file. Every command that does not serve forever
runs under each fault.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # runs the whole demo

CLI = [sys.executable, "-m", "ailedger.cli"]


def _env(home: Path, password: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AILEDGER_")}
    env.update(AILEDGER_HOME=str(home), COLUMNS="80", AILEDGER_KEYSTORE_SCRYPT_N="16")
    if password is not None:
        env["AILEDGER_PASSWORD"] = password
    return env


def run(home: Path, *args: str, fault: str | None = None, password: str | None = "ailedger-demo"):
    """``ailedger ARGS`` on ``home``, under ``fault`` (None, "read-only" or "full")."""
    command = [*CLI, *args]
    if fault is not None:
        command = ["unshare", "-rm", "sh", "-c", _FAULTS[fault], str(home), *command]
    return subprocess.run(
        command, env=_env(home, password), capture_output=True, text=True, timeout=300
    )


# Shell run inside the namespace: $0 is the data dir, "$@" the command.
_FAULTS = {
    "read-only": 'mount --bind -o ro "$0" "$0" && exec "$@"',
    "full": (
        'copy=$(mktemp -d) && cp -a "$0/." "$copy" '
        '&& size=$(( $(du -sk "$copy" | cut -f1) + 2048 ))k '
        '&& mount -t tmpfs -o size=$size tmpfs "$0" && cp -a "$copy/." "$0" '
        '&& { dd if=/dev/zero of="$0/.filler" bs=4k 2>/dev/null; true; } && exec "$@"'
    ),
}


def assert_one_line_error(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error"), result.stderr


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> Path:
    """A data dir where a user made the key ``alice`` with their own password, then ran
    `ailedger demo` with AILEDGER_PASSWORD unset (the README's order)."""
    home = tmp_path_factory.mktemp("demo") / "home"
    created = run(home, "keys", "new", "alice", password="my-own-password")
    assert created.returncode == 0, created.stderr
    return home


@pytest.fixture(scope="module")
def demo_run(demo_home):
    return run(demo_home, "demo", password=None)


def test_demo_runs_after_the_user_made_a_key_of_the_same_name_with_another_password(demo_run):
    assert demo_run.returncode == 0, demo_run.stderr[-2000:]


@pytest.fixture
def home(demo_home, demo_run, tmp_path) -> Path:
    """A private copy of the demo's data dir, so one test's damage stays its own."""
    copy = tmp_path / "home"
    shutil.copytree(demo_home, copy)
    return copy


@pytest.fixture(scope="module")
def decision_id(demo_home, demo_run) -> str:
    result = run(
        demo_home, "audit", "export", "--since", "2000-01-01", "--until", "2999-01-01", "-o", "-"
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[0])["decision_id"]


def _walk(decision_id: str, out: Path) -> list[list[str]]:
    """Every command that ends by itself, with arguments that work on the demo's data dir."""
    period = ["--since", "2000-01-01", "--until", "2999-01-01"]
    return [
        ["keys", "new", "fault-key"],
        ["keys", "list"],
        ["keys", "show", "operator"],
        ["keys", "check", "operator"],
        ["keys", "delete", "demo-carol", "--yes"],
        ["chain", "status"],
        ["log", "verify"],
        ["audit", "proof", decision_id, "-o", str(out / "proof.json")],
        ["audit", "export", *period, "-o", str(out / "decisions.jsonl")],
        ["market", "listings"],
        ["market", "pools"],
        ["market", "purchases"],
        ["market", "earnings", "1"],
        [
            "market",
            "compute",
            "1",
            "--buyer",
            "lab-b",
            "--estimator",
            "gradient_boosting",
            "--target",
            "diagnosis",
        ],
        ["services", "list"],
        ["services", "channels"],
        ["services", "call", "diagnosis"],
        ["services", "claim", "diagnosis"],
        ["services", "withdraw"],
        ["services", "publish", "diagnosis", "--endpoint", "http://127.0.0.1:9"],
        ["demo"],
    ]


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_every_command_on_a_broken_data_dir_fails_in_one_line_or_succeeds(
    home, decision_id, tmp_path, fault
):
    if run(home, "--help", fault=fault).returncode != 0:
        pytest.skip(f"cannot make a {fault} data dir here (`unshare -rm` and mount refused)")
    out = tmp_path / "out"
    out.mkdir()
    failures = []
    for args in _walk(decision_id, out):
        result = run(home, *args, fault=fault)
        lines = result.stderr.strip().splitlines()
        one_line = result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error")
        if "Traceback" in result.stderr or not (result.returncode == 0 or one_line):
            failures.append(f"{' '.join(args)}: exit {result.returncode}\n{result.stderr[-800:]}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("command", ["proof", "export"])
@pytest.mark.parametrize("target", ["missing/dir/file.json", "a-directory"])
def test_output_into_a_missing_directory_or_at_a_directory_is_one_line(
    home, decision_id, tmp_path, command, target
):
    (tmp_path / "a-directory").mkdir()
    args = [decision_id] if command == "proof" else ["--since", "2000-01-01"]
    if command == "export":
        args += ["--until", "2999-01-01"]
    result = run(home, "audit", command, *args, "-o", str(tmp_path / target))
    assert_one_line_error(result)
    assert target.split("/")[0] in result.stderr


def test_output_dash_writes_the_bundle_to_stdout(home, decision_id):
    result = run(home, "audit", "proof", decision_id, "-o", "-")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["record"]
    assert "wrote stdout" in result.stderr


def test_verify_of_a_directory_is_one_line(home, tmp_path):
    result = run(home, "audit", "verify", str(tmp_path))
    assert_one_line_error(result)
    assert "Is a directory" in result.stderr


def test_truncated_decision_index_is_one_line_naming_the_problem(home, decision_id):
    index = home / "audit" / "decisions.sqlite3"
    with index.open("r+b") as handle:
        handle.truncate(100)
    result = run(home, "audit", "proof", decision_id, "-o", "-")
    assert_one_line_error(result)
    assert "decision index" in result.stderr and "truncated" in result.stderr


def test_call_of_an_example_the_model_does_not_have_names_the_range(home):
    result = run(home, "services", "call", "diagnosis", "--example", "99999")
    assert_one_line_error(result)
    assert "[example]" in result.stderr and "99999" in result.stderr


def test_call_of_a_service_nobody_serves_says_how_to_serve_it_and_pays_nothing(home):
    before = run(home, "services", "channels", "--json")
    result = run(home, "services", "call", "credit")
    assert_one_line_error(result)
    assert "does not answer" in result.stderr
    assert "ailedger services serve credit" in result.stderr
    assert run(home, "services", "channels", "--json").stdout == before.stdout


def test_a_wrong_password_error_says_what_to_do(home):
    result = run(home, "keys", "check", "alice")
    assert_one_line_error(result)
    assert "AILEDGER_PASSWORD" in result.stderr and "ailedger keys delete" in result.stderr


def test_piped_tables_keep_addresses_and_hashes_whole(home):
    result = run(home, "services", "list")
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) > 120
    assert "…" not in result.stdout


def test_json_of_a_read_command_is_the_whole_data(home):
    result = run(home, "services", "channels", "--json")
    assert result.returncode == 0, result.stderr
    channels = json.loads(result.stdout)
    assert channels and all(row["expiry"].endswith("UTC") for row in channels)


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "list"],
        ["chain", "status"],
        ["market", "listings"],
        ["market", "pools"],
        ["market", "earnings", "1"],
        ["market", "purchases"],
        ["services", "list"],
    ],
)
def test_read_commands_print_json_with_whole_values(home, command):
    result = run(home, *command, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data
    assert "b'" not in result.stdout and "…" not in result.stdout
