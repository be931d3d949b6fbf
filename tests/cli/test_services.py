"""`ailedger services publish|list|price|deprecate|channels|withdraw|call|verify|serve`."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ailedger.cli.services import app, check_endpoint, parse_alt
from ailedger.config import Settings
from ailedger.errors import InvalidInputError
from ailedger.platform import Platform
from ailedger.services import AmbiguousModelError, service_contracts

PASSWORD = "cli-password"


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("AILEDGER_HOME", str(home))
    monkeypatch.setenv("AILEDGER_KEYSTORE_SCRYPT_N", "16")
    monkeypatch.setenv("AILEDGER_PASSWORD", PASSWORD)
    return home


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def published(runner, home):
    result = runner.invoke(app, ["publish", "diagnosis", "--price", "0.02"])
    assert result.exit_code == 0, result.output
    return result


def _listing(name: str):
    with Platform.open(Settings()) as platform:
        return service_contracts(platform).registry.find(name)


def test_parse_alt_reads_decimal_alt_as_wei():
    assert parse_alt("0.01") == 10**16
    assert parse_alt("2") == 2 * 10**18


@pytest.mark.parametrize("text", ["abc", "0", "-1", "1e-19", "nan"])
def test_parse_alt_rejects_non_positive_or_too_precise_amounts(text):
    with pytest.raises(InvalidInputError, match="price"):
        parse_alt(text, "price")


def test_publish_registers_the_model_at_its_price(published):
    assert "registered diagnosis" in published.output
    listing = _listing("diagnosis")
    assert listing.price == 2 * 10**16
    assert listing.endpoint == "http://127.0.0.1:8100"


def test_publishing_the_same_model_again_reuses_the_entry(runner, published):
    result = runner.invoke(app, ["publish", "diagnosis", "--price", "0.02"])
    assert result.exit_code == 0, result.output
    assert "already registered diagnosis" in result.output


def test_publish_of_an_unknown_builtin_fails_naming_it(runner, home):
    result = runner.invoke(app, ["publish", "horoscope"])
    assert result.exit_code != 0
    assert "horoscope" in str(result.exception)


def test_list_shows_published_models(runner, published):
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    assert "diagnosis" in result.output and "active" in result.output


def test_price_changes_the_registered_price(runner, published):
    result = runner.invoke(app, ["price", "diagnosis", "0.5"])
    assert result.exit_code == 0, result.output
    assert _listing("diagnosis").price == 5 * 10**17


def test_deprecate_retires_the_model(runner, published):
    result = runner.invoke(app, ["deprecate", "diagnosis"])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["list"])
    assert "deprecated" in listed.output


def test_channels_of_a_fresh_registry_is_an_empty_table(runner, published):
    result = runner.invoke(app, ["channels"])
    assert result.exit_code == 0, result.output
    assert "Payment channels" in result.output


def test_withdraw_with_nothing_credited_withdraws_zero(runner, published):
    result = runner.invoke(app, ["withdraw"])
    assert result.exit_code == 0, result.output
    assert "withdrew 0 ALT" in result.output


def test_verify_of_a_file_without_proof_fails(runner, published, tmp_path):
    saved = tmp_path / "call.json"
    saved.write_text(json.dumps({"receipt": {}}))
    result = runner.invoke(app, ["verify", str(saved)])
    assert result.exit_code != 0
    assert "no proof" in str(result.exception)


def test_call_of_a_name_two_owners_registered_is_refused_as_ambiguous(runner, published):
    result = runner.invoke(app, ["publish", "diagnosis", "--account", "mallory"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["call", "diagnosis"])
    assert result.exit_code != 0
    assert isinstance(result.exception, AmbiguousModelError)
    assert "2 owners registered it" in str(result.exception)
    assert "--owner" in str(result.exception)


def _no_channels() -> bool:
    with Platform.open(Settings()) as platform:
        return not service_contracts(platform).channels.opened()


def test_publish_refuses_an_endpoint_that_is_not_a_url(runner, home):
    result = runner.invoke(app, ["publish", "diagnosis", "--endpoint", "notaurl"])
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidInputError)
    assert result.exception.field == "endpoint" and "notaurl" in result.exception.message


def test_call_with_a_deposit_below_one_call_fails_before_opening_a_channel(runner, published):
    result = runner.invoke(app, ["call", "diagnosis", "--deposit", "0.01"])
    assert isinstance(result.exception, InvalidInputError)
    assert result.exception.field == "deposit"
    assert "use --deposit 0.02 or more" in result.exception.message
    assert _no_channels()


def test_call_of_a_service_that_does_not_answer_says_how_to_serve_it_and_pays_nothing(runner, home):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    published = runner.invoke(
        app, ["publish", "diagnosis", "--endpoint", f"http://127.0.0.1:{port}"]
    )
    assert published.exit_code == 0, published.output
    result = runner.invoke(app, ["call", "diagnosis"])
    assert result.exception.field == "endpoint"
    assert "does not answer" in result.exception.message
    assert f"ailedger services serve diagnosis` (port {port})" in result.exception.message
    assert _no_channels()


def test_call_of_an_example_the_model_lacks_names_the_range(runner, published):
    result = runner.invoke(app, ["call", "diagnosis", "--example", "99999"])
    assert isinstance(result.exception, InvalidInputError)
    assert result.exception.field == "example" and "99999" in result.exception.message


def test_call_with_an_input_nested_too_deep_is_bad_input_and_pays_nothing(
    runner, published, tmp_path
):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = runner.invoke(app, ["call", "diagnosis", "--input", f"@{deep}"])
    assert isinstance(result.exception, InvalidInputError)
    assert result.exception.field == "input" and "not valid JSON" in result.exception.message
    assert _no_channels()


def test_top_up_without_an_open_channel_says_how_to_open_one(runner, published):
    result = runner.invoke(
        app, ["top-up", "diagnosis", "--amount", "1", "--account", "model-owner"]
    )
    assert result.exception.field == "name"
    assert "ailedger services call diagnosis --account model-owner" in result.exception.message


@given(st.text(max_size=40))
@hyp_settings(max_examples=200, deadline=None)
def test_check_endpoint_accepts_exactly_http_urls_with_a_host(text):
    parts = urlsplit(text)
    try:
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in text
        _ = parts.port  # a malformed port makes urlsplit raise here
    except ValueError:
        valid = False
    if valid:
        assert check_endpoint(text) == text
    else:
        with pytest.raises(InvalidInputError):
            check_endpoint(text)
