"""`ailedger iot register|list|suspend|resume|revoke|simulate|ingest|stats`."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from eth_account import Account
from typer.testing import CliRunner

from ailedger.cli.iot import app
from ailedger.cli.main import main
from ailedger.config import Settings
from ailedger.iot import Measurement, Reading, device_topic
from ailedger.iot.node import open_iot
from ailedger.iot.transport import MqttTransport
from ailedger.platform import Platform
from tests.conftest import require_service

FIRMWARE = "ab" * 32
DEVICE = Account.from_key(b"\x41" * 32)


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("AILEDGER_HOME", str(home))
    monkeypatch.setenv("AILEDGER_KEYSTORE_SCRYPT_N", "16")
    monkeypatch.setenv("AILEDGER_PASSWORD", "cli-password")
    return home


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _ok(runner, *args):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _devices(runner) -> dict:
    return {row["device"]: row for row in json.loads(_ok(runner, "list", "--json"))}


def test_register_then_list_shows_the_device(runner, home):
    output = _ok(runner, "register", DEVICE.address, "--kind", "cold-room", "--firmware", FIRMWARE)
    assert f"registered {DEVICE.address}" in output
    row = _devices(runner)[DEVICE.address]
    assert (row["kind"], row["status"], row["accepted"]) == ("cold-room", "active", 0)


def test_suspend_resume_revoke_change_the_status(runner, home):
    _ok(runner, "register", DEVICE.address, "--kind", "cold-room", "--firmware", FIRMWARE)
    assert "suspended" in _ok(runner, "suspend", DEVICE.address)
    assert "active" in _ok(runner, "resume", DEVICE.address)
    assert "revoked" in _ok(runner, "revoke", DEVICE.address)
    assert _devices(runner)[DEVICE.address]["status"] == "revoked"


def _main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run the real entry point: errors become one line on stderr and exit status 1."""
    monkeypatch.setattr("sys.argv", ["ailedger", "iot", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


def test_bad_firmware_is_one_line_and_exit_1(home, monkeypatch, capsys):
    code, err = _main(
        monkeypatch, capsys, "register", DEVICE.address, "--kind", "x", "--firmware", "zz"
    )
    assert code == 1
    assert err.count("\n") == 1
    assert "firmware: expected the SHA-256 as 64 hex digits" in err


def test_revoking_twice_names_the_contracts_reason(home, runner, monkeypatch, capsys):
    _ok(runner, "register", DEVICE.address, "--kind", "cold-room", "--firmware", FIRMWARE)
    _ok(runner, "revoke", DEVICE.address)
    code, err = _main(monkeypatch, capsys, "revoke", DEVICE.address)
    assert code == 1
    assert "revoke: device is already revoked" in err


def test_simulate_reports_accounting_and_detector(runner, home):
    output = _ok(runner, "simulate", "--devices", "2", "--steps", "60", "--json")
    result = json.loads(output)
    assert result["accounted"] is True
    assert result["simulation"]["published"] == sum(result["ingested"].values())
    stats = json.loads(_ok(runner, "stats", "--json"))
    assert stats["totals"]["accepted"]["reading"] > 0


def test_ingest_resumes_its_session_and_stores_what_was_published(runner, home):
    require_service("Mosquitto", "127.0.0.1", 1883)
    _ok(runner, "register", DEVICE.address, "--kind", "cold-room", "--firmware", FIRMWARE)
    group, client = "cli" + uuid.uuid4().hex[:8], "cli-" + uuid.uuid4().hex[:8]
    options = ["--group", group, "--client-id", client]
    _ok(runner, "ingest", *options, "--idle-seconds", "0.2")  # creates the session
    with Platform.open(Settings()) as platform:
        node = open_iot(platform)
        codec = node.codec
        node.close()
    publisher = MqttTransport().publisher()
    for seq in (1, 2, 3):
        reading = Reading(
            DEVICE.address, seq, int(time.time() * 1000), (Measurement("t", 1, "Cel"),)
        )
        publisher.publish(
            device_topic(codec.domain.verifying_contract, DEVICE.address),
            codec.sign(DEVICE, reading).to_bytes(),
        )
    publisher.publish(device_topic(codec.domain.verifying_contract, DEVICE.address), b"junk")
    publisher.close()
    output = _ok(runner, "ingest", *options, "--until", "4")
    assert "accepted 3" in output and "malformed" in output
    assert _devices(runner)[DEVICE.address]["accepted"] == 3


def test_proof_of_a_simulated_reading_verifies_and_fails_when_altered(
    runner, home, tmp_path, monkeypatch, capsys
):
    _ok(runner, "simulate", "--devices", "1", "--steps", "5", "--no-faults", "--json")
    with Platform.open(Settings()) as platform:
        node = open_iot(platform)
        stored = node.store.messages(limit=1)[0]
        node.close()
    bundle_file = tmp_path / "reading.json"
    output = _ok(runner, "proof", stored.device, str(stored.seq), "-o", str(bundle_file))
    assert f"wrote {bundle_file}" in output
    verified = _ok(runner, "verify", str(bundle_file))
    assert "device_key" in verified and f"VERIFIED: reading {stored.device}" in verified
    # The generic verifier knows the kind too: same checks, same verdict.
    from ailedger.cli.log import app as log_app

    generic = runner.invoke(log_app, ["verify-proof", str(bundle_file)])
    assert generic.exit_code == 0 and "device_key" in generic.output, generic.output
    bundle = json.loads(bundle_file.read_text())
    bundle["record"]["message"]["values"][0]["value"] += 1
    bundle_file.write_text(json.dumps(bundle))
    failed = runner.invoke(app, ["verify", str(bundle_file)])
    assert failed.exit_code == 1
    assert "NOT VERIFIED: leaf_hash: the record was altered" in failed.output


def test_proof_of_an_unknown_reading_is_one_line_and_exit_1(home, runner, monkeypatch, capsys):
    _ok(runner, "register", DEVICE.address, "--kind", "cold-room", "--firmware", FIRMWARE)
    _ok(runner, "simulate", "--devices", "1", "--steps", "2", "--no-faults", "--json")
    code, err = _main(monkeypatch, capsys, "proof", DEVICE.address, "9")
    assert code == 1 and err.count("\n") == 1
    assert f"no accepted message {DEVICE.address} seq 9" in err


@pytest.mark.parametrize("command", ["ingest", "simulate"])
def test_a_broker_that_does_not_answer_is_one_line_and_exit_1(home, monkeypatch, capsys, command):
    monkeypatch.setenv("AILEDGER_MQTT_URL", "mqtt://127.0.0.1:9")  # discard port: nobody there
    code, err = _main(monkeypatch, capsys, command)
    assert code == 1 and err.count("\n") == 1
    assert "no MQTT broker answers at mqtt://127.0.0.1:9" in err
