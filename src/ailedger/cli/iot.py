"""`ailedger iot`: register and manage devices, simulate a fleet, run an ingester, show stats."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ailedger.cli.pins import LOG_ID_OPTION, OPERATOR_OPTION, REGISTRY_OPTION, TRUST_OPTION
from ailedger.config import Settings
from ailedger.errors import InvalidInputError

console = Console(soft_wrap=True)
app = typer.Typer(help="Secure IoT: devices on chain, signed readings, ingestion, simulation.")

OWNER_HELP = "Keystore account that owns the devices (or is the owner's fleet operator)."
DEFAULT_OWNER = "fleet-owner"


@contextmanager
def _node() -> Iterator:
    from ailedger.iot.node import iot_session
    from ailedger.platform import Platform

    with Platform.open(Settings()) as platform, iot_session(platform) as node:
        yield node


def _owner(node, name: str):
    return node.platform.account(name, create=node.platform.is_dev_chain, fund_wei=10**18)


def _firmware(value: str) -> bytes:
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InvalidInputError(
            f"firmware: expected the SHA-256 as 64 hex digits, got {value!r}", field="firmware"
        )
    return raw


@app.command("register")
def register(
    device: str = typer.Argument(..., help="The device's address (of the key it signs with)."),
    kind: str = typer.Option(..., help="Device kind, e.g. cold-room or reefer-truck."),
    firmware: str = typer.Option(..., help="SHA-256 of the firmware (hex)."),
    owner: str = typer.Option(DEFAULT_OWNER, help=OWNER_HELP),
) -> None:
    """Register a device on chain for OWNER."""
    from ailedger.core.chain import to_checksum

    with _node() as node:
        account = _owner(node, owner)
        address = to_checksum(device, "device")
        node.registry.register(account, address, account.address, kind, _firmware(firmware))
        console.print(f"registered {address} ({kind}) for {account.address}")


def _change(action: str, device: str, owner: str) -> None:
    from ailedger.core.chain import to_checksum

    with _node() as node:
        address = to_checksum(device, "device")
        getattr(node.registry, action)(_owner(node, owner), address)
        node.cache.sync()
        console.print(f"{address}: {node.cache.get(address).status.label}")


@app.command("suspend")
def suspend(device: str, owner: str = typer.Option(DEFAULT_OWNER, help=OWNER_HELP)) -> None:
    """Stop accepting a device's readings until it is resumed."""
    _change("suspend", device, owner)


@app.command("resume")
def resume(device: str, owner: str = typer.Option(DEFAULT_OWNER, help=OWNER_HELP)) -> None:
    """Accept a suspended device's readings again."""
    _change("resume", device, owner)


@app.command("revoke")
def revoke(device: str, owner: str = typer.Option(DEFAULT_OWNER, help=OWNER_HELP)) -> None:
    """Retire a device for good."""
    _change("revoke", device, owner)


@app.command("list")
def list_devices(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every device the registry knows, with its status and message counts."""
    from ailedger.iot import fleet_stats

    with _node() as node:
        devices = node.cache.devices()
        stats = fleet_stats(node.store)["devices"]
    rows = [
        {
            "device": d.device,
            "kind": d.kind,
            "status": d.status.label,
            "owner": d.owner,
            "key": d.key,
            "accepted": sum(stats.get(d.device, {}).get("accepted", {}).values()),
            "rejected": sum(stats.get(d.device, {}).get("rejected", {}).values()),
        }
        for d in devices
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    table = Table(title="Devices")
    for column in ("device", "kind", "status", "accepted", "rejected", "owner"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["device"], row["kind"], row["status"], str(row["accepted"]),
            str(row["rejected"]), row["owner"],
        )  # fmt: skip
    console.print(table)


@app.command("stats")
def stats(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Accepted messages per type and rejected ones per reason, fleet-wide and per device."""
    from ailedger.iot import fleet_stats

    with _node() as node:
        summary = fleet_stats(node.store)
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
        return
    totals = summary["totals"]
    console.print(f"accepted: {totals['accepted'] or 0}")
    console.print(f"rejected: {totals['rejected'] or 0}")
    table = Table(title="Per device")
    for column in ("device", "accepted", "rejected by reason"):
        table.add_column(column)
    for device, entry in sorted(summary["devices"].items()):
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(entry["rejected"].items()))
        table.add_row(device, str(sum(entry["accepted"].values())), rejected or "-")
    console.print(table)


def _transport(mqtt_url: str | None):
    from ailedger.iot.transport import open_transport

    return open_transport(mqtt_url or Settings().mqtt_url)


@app.command("simulate")
def simulate(
    devices: int = typer.Option(6, min=1, max=200, help="Devices besides the revoked one."),
    steps: int = typer.Option(288, min=1, help="Readings per device (288 = a day at 5 min)."),
    seed: int = typer.Option(0, help="Seed of the fleet and its streams."),
    faults: bool = typer.Option(True, help="Inject replays, forgeries, skew, malformed, ..."),
    owner: str = typer.Option(DEFAULT_OWNER, help=OWNER_HELP),
    mqtt_url: str | None = typer.Option(None, help="Broker (default: AILEDGER_MQTT_URL)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Simulate a fleet publishing over MQTT (or in process) and ingest what it sends."""
    from ailedger.iot.scenario import run_scenario

    transport = _transport(mqtt_url)
    with _node() as node:
        result = run_scenario(
            node, transport, _owner(node, owner), devices=devices, steps=steps, seed=seed,
            faults=faults,
        )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=1))
        return
    console.print(f"transport: {result.transport}")
    _print_result(result)


def _print_result(result) -> None:
    report = result.report
    console.print(
        f"published {report.published} messages ({report.readings} readings, "
        f"actions {dict(report.actions) or 'none'})"
    )
    console.print(f"ingested: {dict(sorted(result.outcomes.items()))}")
    console.print(f"every message accounted for as labelled: {result.accounted}")
    score = report.detector
    console.print(
        f"edge detector: precision {score.precision:.2f}, recall {score.recall:.2f} "
        f"({score.episodes_detected}/{score.episodes} compressor failures caught)"
    )


@app.command("ingest")
def ingest(
    group: str = typer.Option("ailedger", help="Ingester group (MQTT 5 shared subscription)."),
    until: int | None = typer.Option(None, min=1, help="Stop after this many messages."),
    idle_seconds: float | None = typer.Option(None, help="Stop after this long without input."),
    reorder_window: int = typer.Option(
        0, min=0, help="Accept a seq this far below the device's last (several ingesters)."
    ),
    log: bool = typer.Option(True, help="Append to the iot log (shared with API, ingesters)."),
    client_id: str | None = typer.Option(None, help="Fixed MQTT client id: resume its session."),
    mqtt_url: str | None = typer.Option(None, help="Broker (default: AILEDGER_MQTT_URL)."),
) -> None:
    """Run an ingester on the broker until stopped (Ctrl-C), UNTIL messages or IDLE_SECONDS."""
    from ailedger.iot.pipeline import run_ingester
    from ailedger.iot.transport import MqttTransport

    transport = _transport(mqtt_url)
    if not isinstance(transport, MqttTransport):
        raise InvalidInputError(
            "no MQTT broker answers at 127.0.0.1:1883: start one or set AILEDGER_MQTT_URL",
            field="mqtt_url",
        )
    with _node() as node:
        ingester = node.ingester(reorder_window=reorder_window)
        writer = node.log_writer() if log else None
        subscriber = transport.subscriber(group, node.registry.address, client_id=client_id)
        console.print(f"ingesting from the {transport.description}, group {group}")
        try:
            totals = run_ingester(
                subscriber, ingester, writer, until=until, idle_seconds=idle_seconds
            )
        except KeyboardInterrupt:
            console.print("stopped")
            return
        finally:
            subscriber.close()
        if writer is not None:
            writer.log.close_batch()
    console.print(
        f"received {totals.received}, accepted {totals.accepted}, "
        f"rejected {dict(totals.rejected) or 0} in {totals.seconds:.1f} s"
    )


@app.command("proof")
def proof(
    device: str = typer.Argument(..., help="The device's address."),
    seq: int = typer.Argument(..., min=0, help="The message's sequence number."),
    output: Path = typer.Option(
        Path("proof.json"), "--output", "-o", help="Where to write the bundle."
    ),
) -> None:
    """Write the proof bundle of the accepted reading or action SEQ of DEVICE."""
    from ailedger.cli.log import write_bundle
    from ailedger.core.chain import to_checksum
    from ailedger.core.log import TransparencyLog, open_store
    from ailedger.iot.node import IOT_LOG
    from ailedger.iot.proof import build_message_bundle
    from ailedger.iot.store import open_message_store

    settings = Settings()
    address = to_checksum(device, "device")
    store = open_message_store(settings)
    log = TransparencyLog(open_store(settings, name=IOT_LOG, read_only=True))
    try:
        bundle = build_message_bundle(log, store, address, seq)
    finally:
        log.close()
        store.close()
    write_bundle(bundle, output, f"{address} seq {seq}")


@app.command("verify")
def verify(
    bundle_file: Path = typer.Argument(..., help="A proof bundle written by `iot proof`."),
    trust: Path | None = TRUST_OPTION,
    operator: str | None = OPERATOR_OPTION,
    registry: str | None = REGISTRY_OPTION,
    log_id: list[str] | None = LOG_ID_OPTION,
) -> None:
    """Check a device message's proof bundle against the chain only; exit 1 if it fails.

    Besides the log's checks, the signer must have been the device's key at the
    anchor block. The pins name the log's operator, registry and log id.
    """
    from ailedger.cli.log import report_verdict, verify_bundle_file
    from ailedger.core.trust import load_pins
    from ailedger.iot.proof import verify_message_bundle

    pins = load_pins(trust, operator=operator, registry=registry, log_ids=log_id or ())
    verdict = verify_bundle_file(bundle_file, pins, verify_message_bundle)
    subject = verdict.record.subject if verdict.record is not None else "device message"
    report_verdict(verdict, subject)
