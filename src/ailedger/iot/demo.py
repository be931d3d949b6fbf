"""The IoT step of `ailedger demo`: a simulated fleet, its readings checked, logged, anchored."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ailedger.core.log import TransparencyLog
from ailedger.iot.node import IOT_LOG, IotNode, open_iot
from ailedger.iot.proof import build_message_bundle, verify_message_bundle
from ailedger.iot.scenario import run_scenario
from ailedger.iot.transport import open_transport
from ailedger.platform import Platform

__all__ = ["run_iot_scenario"]

FLEET_OWNER = "fleet-owner"


def run_iot_scenario(
    platform: Platform, console: Console, *, devices: int = 6, steps: int = 288
) -> None:
    """Simulate a day of a cold-chain fleet over MQTT (or in process) and show the outcome."""
    transport = open_transport(platform.settings.mqtt_url)
    console.print(f"transport: [bold]{transport.description}[/]")
    node = open_iot(platform)
    try:
        owner = platform.account(FLEET_OWNER, create=platform.is_dev_chain, fund_wei=10**18)
        with console.status("simulating a day of the fleet and ingesting it"):
            result = run_scenario(node, transport, owner, devices=devices, steps=steps)
        log = platform.open_log(IOT_LOG)
        anchors = log.anchors()
        proved = _prove_an_action(platform, node, log)
    finally:
        node.close()

    report = result.report
    table = Table(title=f"{len(result.devices)} devices, {report.published} messages published")
    table.add_column("outcome")
    table.add_column("expected", justify="right")
    table.add_column("ingested", justify="right")
    expected = dict(report.expected_rejections, accepted=report.expected_accepted)
    for outcome in sorted(set(expected) | set(result.outcomes)):
        table.add_row(outcome, str(expected.get(outcome, 0)), str(result.outcomes[outcome]))
    console.print(table)
    verdict = "[green]yes[/]" if result.accounted else "[red]NO[/]"
    console.print(f"every message accepted once or rejected for its labelled reason: {verdict}")
    score = report.detector
    console.print(
        f"edge anomaly model (IsolationForest refit in windows, on the devices): precision "
        f"{score.precision:.2f}, recall {score.recall:.2f} ({score.episodes_detected} of "
        f"{score.episodes} compressor failures caught); signed actions {dict(report.actions)}"
    )
    if anchors:
        last = anchors[-1]
        console.print(
            f"iot log: {last.tree_size} records, head anchored in block {last.block_number} "
            f"(tx 0x{last.tx_hash.hex()[:16]}...)"
        )
    if proved is not None:
        console.print(proved)
    console.print("Inspect: ailedger iot list; ailedger iot stats; the IoT page of ailedger serve")


def _prove_an_action(platform: Platform, node: IotNode, log: TransparencyLog) -> str | None:
    """Prove the first logged action from its bundle and the chain, as a stranger would."""
    action = next(
        (
            m
            for m in node.store.messages(limit=10_000)
            if m.type == "action" and m.leaf_index is not None
        ),
        None,
    )
    if action is None:
        return None
    bundle = build_message_bundle(log, node.store, action.device, action.seq)
    verdict = verify_message_bundle(bundle, platform.chain)
    outcome = "[green]VERIFIED[/]" if verdict.ok else f"[red]NOT VERIFIED[/]: {verdict.reason}"
    return (
        f"proof of the edge model's first action ({action.device} seq {action.seq}) from its "
        f"bundle and the chain: {outcome}; `ailedger iot proof {action.device} {action.seq}` "
        "writes it, `ailedger iot verify FILE` checks it"
    )
