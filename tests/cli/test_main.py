"""`ailedger` turns every error a user can fix into one line on stderr and exit status 1."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

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


HEAVY_MODULES = ("web3", "evm", "eth_account", "sklearn", "lightgbm", "shap", "pandas", "vyper")


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


def test_help_imports_no_heavy_module():
    # What `ailedger --help` loads decides how long it takes; timing itself is not tested.
    probe = (
        "import sys\n"
        "from ailedger.cli.main import main\n"
        "sys.argv = ['ailedger', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY_MODULES!r} if m in sys.modules], file=sys.stderr)\n"
    )
    for args in (["--help"], ["services", "--help"], ["audit", "export", "--help"]):
        result = _python(probe, *args)
        assert result.stderr.strip().splitlines()[-1] == "[]", (args, result.stderr)


def _help(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "ailedger.cli", *args, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "command", [(), ("services", "call"), ("log", "verify"), ("audit", "export"), ("keys",)]
)
def test_help_shows_plain_value_names_not_type_tags(command):
    text = _help(*command)
    assert not re.search(r"<(bool|str|int|path|int range)>", text), text


def test_help_keeps_each_docstring_paragraph_on_one_line():
    text = _help("log", "verify")
    assert "Exits non-zero naming the first bad record if anything was changed" in text


def test_market_check_help_documents_the_policy_format():
    text = _help("market", "check")
    for key in ("direct_identifiers", "quasi_identifiers", "sensitive", "bands", "prefix"):
        assert key in text


def test_keys_delete_removes_the_key_after_confirmation(home, monkeypatch, capsys):
    monkeypatch.setenv("AILEDGER_PASSWORD", "pw")
    assert _run(monkeypatch, "keys", "new", "temp") == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert _run(monkeypatch, "keys", "delete", "temp") == 0
    assert not (home / "keystore" / "temp.json").exists()
    assert _run(monkeypatch, "keys", "show", "temp") == 1
