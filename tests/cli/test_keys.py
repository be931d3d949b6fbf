"""`ailedger keys new|import|list|show|check`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ailedger.cli.keys import app
from ailedger.config import Settings
from ailedger.core.identity import Keystore
from ailedger.errors import InvalidInputError, NotFoundError, UnauthorizedError

PASSWORD = "cli-password"
KNOWN_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
KNOWN_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("AILEDGER_HOME", str(home))
    monkeypatch.setenv("AILEDGER_KEYSTORE_SCRYPT_N", "16")
    monkeypatch.setenv("AILEDGER_PASSWORD", PASSWORD)
    return home


@pytest.fixture
def keystore(home) -> Keystore:
    return Keystore(Settings())


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_new_creates_a_key_and_prints_its_address(runner, keystore):
    result = runner.invoke(app, ["new", "alice"])
    assert result.exit_code == 0, result.output
    assert keystore.address("alice") in result.output
    assert keystore.unlock("alice", PASSWORD).address == keystore.address("alice")


def test_new_prompts_for_the_password_twice_when_unset(runner, keystore, monkeypatch):
    monkeypatch.delenv("AILEDGER_PASSWORD")
    result = runner.invoke(app, ["new", "alice"], input="typed secret\ntyped secret\n")
    assert result.exit_code == 0, result.output
    assert "typed secret" not in result.output  # hidden input
    assert keystore.unlock("alice", "typed secret").address == keystore.address("alice")


def test_new_with_mismatched_confirmation_stores_nothing(runner, keystore, monkeypatch):
    monkeypatch.delenv("AILEDGER_PASSWORD")
    result = runner.invoke(app, ["new", "alice"], input="one\ntwo\n")
    assert result.exit_code != 0
    assert keystore.list() == []


def test_new_with_a_taken_name_fails(runner, keystore):
    runner.invoke(app, ["new", "alice"])
    result = runner.invoke(app, ["new", "alice"])
    assert result.exit_code == 1
    assert isinstance(result.exception, InvalidInputError)
    assert len(keystore.list()) == 1


def test_new_with_an_invalid_name_fails(runner, keystore):
    result = runner.invoke(app, ["new", "Alice"])
    assert result.exit_code == 1
    assert isinstance(result.exception, InvalidInputError)
    assert keystore.list() == []


def test_import_reads_the_key_from_stdin_and_never_prints_it(runner, keystore):
    result = runner.invoke(app, ["import", "ops"], input=f"{KNOWN_KEY}\n")
    assert result.exit_code == 0, result.output
    assert KNOWN_ADDRESS in result.output
    assert KNOWN_KEY[2:] not in result.output
    assert keystore.address("ops") == KNOWN_ADDRESS


def test_import_of_a_malformed_key_fails_without_echoing_it(runner, keystore):
    result = runner.invoke(app, ["import", "ops"], input=f"{KNOWN_KEY[:-3]}\n")
    assert result.exit_code == 1
    assert isinstance(result.exception, InvalidInputError)
    assert KNOWN_KEY[10:40] not in str(result.exception) + result.output
    assert keystore.list() == []


def test_list_shows_names_and_addresses(runner, keystore):
    alice = keystore.create("alice", PASSWORD)
    bob = keystore.create("bob", PASSWORD)
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    assert alice.address in result.output
    assert bob.address in result.output
    assert result.output.index("alice") < result.output.index("bob")


def test_list_of_an_empty_keystore_says_so(runner, keystore):
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    assert "no keys" in result.output


def test_show_prints_only_the_address(runner, keystore):
    account = keystore.create("alice", PASSWORD)
    result = runner.invoke(app, ["show", "alice"])
    assert result.exit_code == 0
    assert result.output == f"{account.address}\n"


def test_show_of_an_unknown_key_fails(runner, keystore):
    result = runner.invoke(app, ["show", "nobody"])
    assert result.exit_code == 1
    assert isinstance(result.exception, NotFoundError)


def test_check_succeeds_with_the_right_password(runner, keystore):
    account = keystore.create("alice", PASSWORD)
    result = runner.invoke(app, ["check", "alice"])
    assert result.exit_code == 0
    assert account.address in result.output


def test_check_with_a_wrong_password_fails(runner, keystore, monkeypatch):
    keystore.create("alice", PASSWORD)
    monkeypatch.setenv("AILEDGER_PASSWORD", "not it")
    result = runner.invoke(app, ["check", "alice"])
    assert result.exit_code == 1
    assert isinstance(result.exception, UnauthorizedError)


@pytest.mark.slow
def test_console_script_reports_errors_in_one_line_with_exit_status_1(home):
    env = {**os.environ, "AILEDGER_PASSWORD": PASSWORD}
    # The console script installed next to this interpreter by `pip install -e .`.
    ailedger = [str(Path(sys.executable).with_name("ailedger"))]

    created = subprocess.run(
        [*ailedger, "keys", "new", "alice"], env=env, capture_output=True, text=True, timeout=60
    )
    assert created.returncode == 0, created.stderr
    wrong = subprocess.run(
        [*ailedger, "keys", "check", "alice"],
        env={**env, "AILEDGER_PASSWORD": "not it"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 1
    assert wrong.stderr.strip().startswith("error [password]: wrong password for key 'alice'; ")
    unknown = subprocess.run(
        [*ailedger, "keys", "show", "nobody"], env=env, capture_output=True, text=True, timeout=60
    )
    assert unknown.returncode == 1
    assert "no key named 'nobody'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
