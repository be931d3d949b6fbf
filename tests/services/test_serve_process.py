"""`ailedger services serve` as a real process: HTTP calls, SIGKILL loses no voucher,
SIGTERM claims everything, and a saved call verifies from the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from ailedger.cli.services import app as services_cli
from ailedger.config import Settings
from ailedger.platform import Platform
from ailedger.services import (
    HttpTransport,
    NotYetAnchoredError,
    PaymentRequiredError,
    ServiceClient,
    VoucherStore,
    deploy_service_contracts,
    diagnosis_model,
    service_contracts,
)
from ailedger.services.runtime import (
    OWNER_KEY,
    consumer_records_path,
    open_consumer_records,
    publish_model,
    voucher_store_path,
)
from tests.serving import CLI, assert_alive, free_port, start_server

pytestmark = pytest.mark.slow

PRICE = 10**16


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    values = {
        "AILEDGER_HOME": str(tmp_path / "home"),
        "AILEDGER_KEYSTORE_SCRYPT_N": "16",
        "AILEDGER_PASSWORD": "serve-password",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **values}


@pytest.fixture
def port(env) -> int:
    """A port with the diagnosis model published at it, and a funded consumer."""
    port = free_port()
    with Platform.open(Settings()) as platform:
        contracts = deploy_service_contracts(platform)
        owner = platform.account(OWNER_KEY, create=True, fund_wei=10**19)
        consumer = platform.account("consumer", create=True, fund_wei=10**19)
        contracts.token.mint(consumer.address, 10**19, sender=platform.operator)
        publish_model(
            platform,
            contracts,
            owner,
            diagnosis_model(),
            price=PRICE,
            endpoint=f"http://127.0.0.1:{port}",
        )
    return port


def _start(env, port: int, program: str = CLI, batch_seconds: float = 1.0) -> subprocess.Popen:
    """``services serve`` whose upkeep anchors the call log every ``batch_seconds``."""
    argv = ["services", "serve", "diagnosis", "--port", str(port), "--claim-interval", "3600"]
    argv += ["--batch-seconds", str(batch_seconds)]
    return start_server(env, argv, f"http://127.0.0.1:{port}", program=program)


@pytest.fixture
def server(env, port) -> Iterator[subprocess.Popen]:
    process = _start(env, port)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


@pytest.fixture
def slow_batches(env, port) -> Iterator[subprocess.Popen]:
    """A host whose batch policy anchors only hourly: every record stays unanchored."""
    process = _start(env, port, batch_seconds=3600)
    yield process
    process.kill()
    process.wait(timeout=30)


def _client(platform: Platform) -> ServiceClient:
    contracts = service_contracts(platform)
    consumer = platform.account("consumer")
    records = open_consumer_records(platform.settings, consumer.address)
    return ServiceClient(consumer, contracts.registry, contracts.channels, records=records)


def test_accepted_vouchers_survive_a_sigkill_of_the_host(env, port, server):
    with Platform.open(Settings()) as platform:
        client = _client(platform)
        listing = client.discover("diagnosis")
        model = diagnosis_model()
        calls = [client.call(listing, model.examples[i]) for i in range(5)]
        channel_id = calls[-1].voucher.channel_id

        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)

        with VoucherStore(voucher_store_path(platform.settings, "diagnosis")) as store:
            latest = store.latest(channel_id)
        assert (latest.voucher.nonce, latest.voucher.amount) == (5, 5 * PRICE)
        assert latest.voucher.signature == calls[-1].voucher.signature

        restarted = _start(env, port)
        try:
            with pytest.raises(PaymentRequiredError, match="stale nonce"):
                HttpTransport(listing.endpoint).call(
                    {
                        "input": calls[-1].inputs,
                        "salt": "0x" + calls[-1].salt.hex(),
                        "voucher": calls[-1].voucher.to_dict(),
                    }
                )
            more = client.call(listing, model.examples[5])
            assert more.voucher.nonce == 6
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(timeout=60)
        channel = service_contracts(platform).channels.get(channel_id)
        assert (channel.nonce, channel.claimed) == (6, 6 * PRICE)


def test_graceful_shutdown_claims_every_channel(env, port, server):
    with Platform.open(Settings()) as platform:
        client = _client(platform)
        listing = client.discover("diagnosis")
        model = diagnosis_model()
        last = [client.call(listing, model.examples[i]) for i in range(3)][-1]
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down cleanly, then re-raises the signal it handled.
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
        channel = service_contracts(platform).channels.get(last.voucher.channel_id)
        assert channel.claimed == 3 * PRICE


def test_missing_voucher_over_http_is_a_402_naming_the_price(port, server):
    response = httpx.post(
        f"http://127.0.0.1:{port}/call", json={"input": {}, "salt": "0x" + "00" * 32}
    )
    assert response.status_code == 402
    assert response.json()["field"] == "voucher"
    assert f"costs {PRICE}" in response.json()["message"]


def test_cli_call_saves_a_call_that_cli_verify_proves(env, port, server, tmp_path):
    runner = CliRunner()
    saved = tmp_path / "call.json"
    result = runner.invoke(
        services_cli, ["call", "diagnosis", "--example", "2", "--save", str(saved)]
    )
    assert result.exit_code == 0, result.output
    assert "receipt verified" in result.output
    verified = runner.invoke(services_cli, ["verify", str(saved)])
    assert verified.exit_code == 0, verified.output
    assert "verified: diagnosis call, voucher 1" in verified.output


def test_the_api_verifies_the_file_cli_call_saves(env, port, server, tmp_path):
    from fastapi.testclient import TestClient

    from ailedger.api import create_app

    saved = tmp_path / "call.json"
    result = CliRunner().invoke(services_cli, ["call", "diagnosis", "--save", str(saved)])
    assert result.exit_code == 0, result.output
    with TestClient(create_app(Settings())) as api:
        report = api.post(
            "/services/proofs/verify",
            content=saved.read_bytes(),
            headers={"content-type": "application/json"},
        ).json()
    assert (report["ok"], report["model_name"]) == (True, "diagnosis")


HOSTILE_BODIES = {
    "nested 100,000 deep": ("[" * 100_000 + "]" * 100_000, "application/json", 400),
    "object nested 100,000 deep": (
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        "application/json",
        400,
    ),
    "3 MiB": ("[" + "1," * (3 << 19) + "1]", "application/json", 413),
    "NaN": ('{"input": {"x": NaN}, "salt": "0x00"}', "application/json", 422),
    # /call and /batch: 422 "must be JSON"; /batch/lines reads raw bytes: its own 4xx.
    "text/plain": ("input=1", "text/plain", None),
}


@pytest.mark.parametrize("route", ["/call", "/batch", "/batch/lines"])
def test_no_hostile_body_ends_the_host(port, server, route):
    url = f"http://127.0.0.1:{port}"
    for name, (body, content_type, status) in HOSTILE_BODIES.items():
        response = httpx.post(
            url + route, content=body, headers={"content-type": content_type}, timeout=60
        )
        if status is None:
            assert 400 <= response.status_code < 500, (name, response.text[:300])
        else:
            assert response.status_code == status, (name, response.text[:300])
        assert set(response.json()) >= {"error", "message", "field"}, name
        assert_alive(server, url)


def test_the_host_applies_the_configured_body_limit(env, port):
    url = f"http://127.0.0.1:{port}"
    argv = ["services", "serve", "diagnosis", "--port", str(port), "--claim-interval", "3600"]
    process = start_server({**env, "AILEDGER_MAX_BODY_BYTES": "1000"}, argv, url)
    try:
        response = httpx.post(url + "/call", json={"input": {"x": "a" * 1000}}, timeout=30)
        assert response.status_code == 413
        assert "limit of 1000 bytes" in response.json()["message"]
        assert_alive(process, url)
    finally:
        process.kill()
        process.wait(timeout=30)


def test_proof_requests_never_spend_the_operators_gas(env, port, slow_batches):
    """Anyone may GET /proofs/<i>; for a record not yet anchored it used to send an
    anchor transaction at the operator's expense on every call."""
    with Platform.open(Settings()) as platform:
        client = _client(platform)
        listing = client.discover("diagnosis")
        paid = client.call(listing, diagnosis_model().examples[0])
        before = platform.chain.block_number()  # one block per transaction
        for _ in range(3):
            response = httpx.get(f"http://127.0.0.1:{port}/proofs/{paid.log_index}")
            assert response.status_code == 425
            body = response.json()
            assert body["error"] == "not_yet_anchored"
            assert "not yet anchored; anchored by 20" in body["message"]
            assert "3600 s" in body["message"]
        assert platform.chain.block_number() == before  # no transaction was sent
        with pytest.raises(NotYetAnchoredError, match="not yet anchored"):
            client.proof(listing, paid)


PAY_MANY = textwrap.dedent(
    """
    import sys
    from ailedger.config import Settings
    from ailedger.errors import AILedgerError
    from ailedger.platform import Platform
    from ailedger.services import ServiceClient, diagnosis_model, service_contracts
    from ailedger.services.runtime import open_consumer_records

    with Platform.open(Settings()) as platform:
        contracts = service_contracts(platform)
        consumer = platform.account("consumer")
        with open_consumer_records(platform.settings, consumer.address) as records:
            client = ServiceClient(
                consumer, contracts.registry, contracts.channels, records=records
            )
            listing = client.discover("diagnosis")
            example = diagnosis_model().examples[0]
            print("ready", flush=True)
            sys.stdin.readline()  # both start paying together
            failures = 0
            for _ in range(int(sys.argv[1])):
                try:
                    client.call(listing, example)
                except AILedgerError as error:
                    failures += 1
                    print("refused:", error.message, flush=True)
    sys.exit(1 if failures else 0)
    """
)


def test_two_processes_paying_on_one_channel_never_race(env, port, server):
    """Each process used to sign, then send; a voucher signed later but sent first made
    the other stale, which then read as "refused yet holds it"."""
    calls = 40
    with Platform.open(Settings()) as platform:
        client = _client(platform)
        first = client.call(client.discover("diagnosis"), diagnosis_model().examples[0])
        client.records.close()
    payers = [
        subprocess.Popen(
            [sys.executable, "-c", PAY_MANY, str(calls)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    for payer in payers:
        assert payer.stdout.readline() == "ready\n"
    for payer in payers:
        payer.stdin.write("go\n")
        payer.stdin.flush()
    outputs = [payer.communicate(timeout=300)[0] for payer in payers]
    assert [payer.returncode for payer in payers] == [0, 0], outputs
    status = httpx.get(f"http://127.0.0.1:{port}/channels/{first.voucher.channel_id}").json()
    assert status["latest_voucher"]["nonce"] == 1 + 2 * calls
    assert status["latest_voucher"]["amount"] == (1 + 2 * calls) * PRICE


def test_lost_consumer_records_are_rebuilt_by_the_cli(env, port, server, tmp_path):
    runner = CliRunner()
    saved = tmp_path / "call.json"
    for args in (["call", "diagnosis"], ["call", "diagnosis", "--save", str(saved)]):
        result = runner.invoke(services_cli, args)
        assert result.exit_code == 0, result.output
    with Platform.open(Settings()) as platform:
        path = consumer_records_path(platform.settings, platform.keystore.address("consumer"))
    for lost in path.parent.glob(path.name + "*"):
        if lost.is_file():
            lost.unlink()
    refused = runner.invoke(services_cli, ["call", "diagnosis"])
    assert refused.exit_code == 1 and "refusing to pay on top of it" in str(refused.exception)
    rebuilt = runner.invoke(services_cli, ["records", "rebuild", str(saved), "--no-ask-hosts"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "signed up to voucher 2" in rebuilt.output
    again = runner.invoke(services_cli, ["call", "diagnosis"])
    assert again.exit_code == 0, again.output
    assert "voucher 3" in again.output


def test_a_deeply_nested_batch_line_does_not_end_the_host(port, server):
    """Each line of POST /batch/lines is parsed by the host itself, after the body."""
    deep = b"[" * 200_000 + b"]" * 200_000
    for body in (deep, b'{"salt": "0x00"}\n' + deep):
        response = httpx.post(
            f"http://127.0.0.1:{port}/batch/lines",
            content=body,
            headers={"content-type": "application/x-ndjson"},
        )
        # 400 from the body guard (the whole body), or 422 from the line parser.
        assert response.status_code in (400, 422)
        assert "nested deeper than" in response.json()["message"]
    assert httpx.get(f"http://127.0.0.1:{port}/health").json()["status"] == "ok"
