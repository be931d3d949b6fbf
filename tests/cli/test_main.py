"""`ailedger` turns every error a user can fix into one line on stderr and exit status 1."""

from __future__ import annotations

import pytest

from ailedger.cli.main import main


def _run(monkeypatch, *args: str) -> int:
    monkeypatch.setattr("sys.argv", ["ailedger", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AILEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AILEDGER_KEYSTORE_SCRYPT_N", "16")
    return tmp_path / "home"


def test_ailedger_error_is_one_line_naming_the_field(home, monkeypatch, capsys):
    assert _run(monkeypatch, "keys", "show", "nobody") == 1
    err = capsys.readouterr().err
    assert err.startswith("error [name]: no key named 'nobody'")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_invalid_setting_names_the_variable_and_the_value(home, monkeypatch, capsys):
    monkeypatch.setenv("AILEDGER_KEYSTORE_SCRYPT_N", "3")
    assert _run(monkeypatch, "keys", "list") == 1
    err = capsys.readouterr().err
    assert err.startswith("error [AILEDGER_KEYSTORE_SCRYPT_N]: ")
    assert "power of two" in err and "got 3" in err
    assert "Traceback" not in err


def test_unknown_command_is_a_usage_error_with_status_2(home, monkeypatch, capsys):
    assert _run(monkeypatch, "no-such-command") == 2
