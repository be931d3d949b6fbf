"""`ailedger log verify` on a data dir whose decision log is anchored on chain."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from ailedger.cli.main import app
from ailedger.core.chain import AddressBook
from ailedger.core.log import LogTamperedError
from ailedger.errors import IntegrityError, NotFoundError
from ailedger.platform import Platform

runner = CliRunner()


@pytest.fixture
def log_path(settings, monkeypatch):
    """A data dir with 12 records in the log ``decisions``, 10 of them anchored.

    The CLI then runs without ``AILEDGER_PASSWORD``: verifying needs no key.
    """
    with Platform.open(settings) as platform:
        platform.deploy_core_contracts()
        log = platform.open_log("decisions")
        log.append_many([f"record {i}".encode() for i in range(10)])
        log.close_batch()
        log.append_many([b"record 10", b"record 11"])
        log.close()
    monkeypatch.setenv("AILEDGER_HOME", str(settings.home))
    for name in ("AILEDGER_PASSWORD", "AILEDGER_CHAIN_URL", "AILEDGER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return settings.home / "logs" / "decisions.sqlite3"


def _files(home) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


def test_verify_without_a_password_reports_records_and_anchored_heads(log_path):
    result = runner.invoke(app, ["log", "verify"])
    assert result.exit_code == 0, result.output
    assert "log 'decisions' verified: 12 records" in result.output
    assert "1 anchored on chain (up to size 10)" in result.output


def test_verify_of_a_record_changed_in_the_database_names_its_index(log_path):
    conn = sqlite3.connect(log_path, isolation_level=None)
    conn.execute("DROP TRIGGER records_no_update")  # as an attacker with file access would
    conn.execute("UPDATE records SET entry = ? WHERE idx = 7", (b"record 7: forged",))
    conn.close()
    result = runner.invoke(app, ["log", "verify"])
    assert isinstance(result.exception, LogTamperedError)
    assert result.exception.index == 7
    assert "record 7 was changed" in result.exception.message


def test_verify_of_an_unknown_log_is_not_found_and_creates_no_file(log_path, settings):
    before = _files(settings.home)
    result = runner.invoke(app, ["log", "verify", "nosuch"])
    assert isinstance(result.exception, NotFoundError)
    assert "no log named 'nosuch'" in result.exception.message
    assert not (settings.home / "logs" / "nosuch.sqlite3").exists()
    assert set(_files(settings.home)) == set(before)


def test_verify_on_a_data_dir_without_contracts_says_to_run_the_demo(settings, monkeypatch):
    monkeypatch.setenv("AILEDGER_HOME", str(settings.home))
    monkeypatch.delenv("AILEDGER_CHAIN_URL", raising=False)
    result = runner.invoke(app, ["log", "verify"])
    assert isinstance(result.exception, NotFoundError)
    assert "run `ailedger demo` first" in result.exception.message


def test_verify_against_an_address_book_naming_another_contract_as_registry_fails(
    log_path, settings
):
    book = AddressBook(settings.deployments_file)
    token = book.get(31337, "ALTToken")
    registry = book.get(31337, "AnchorRegistry")
    book.record(31337, "AnchorRegistry", replace(registry, address=token.address))
    result = runner.invoke(app, ["log", "verify"])
    assert isinstance(result.exception, IntegrityError)
    assert f"the code at {token.address} is not the AnchorRegistry" in result.exception.message
