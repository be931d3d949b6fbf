"""`ailedger log ...`: inspect and verify the transparency logs, prove any record.

``proof`` reads the operator's log in the data dir; ``verify-proof`` reads nothing
but the bundle file and the chain, so anyone can run it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ailedger.cli.output import make_console, read_json_file, write_output
from ailedger.cli.pins import LOG_ID_OPTION, OPERATOR_OPTION, REGISTRY_OPTION, TRUST_OPTION
from ailedger.config import Settings

if TYPE_CHECKING:
    from ailedger.core.log.bundle import Verdict
    from ailedger.core.trust import Pins

app = typer.Typer(help="Inspect and verify transparency logs.", no_args_is_help=True)
console = make_console()
err_console = make_console(stderr=True)


@app.command("verify")
def verify(
    name: str = typer.Argument("decisions", help="Log name."),
    trust: Path | None = TRUST_OPTION,
    operator: str | None = OPERATOR_OPTION,
    registry: str | None = REGISTRY_OPTION,
    log_id: list[str] | None = LOG_ID_OPTION,
) -> None:
    """Recompute the log from its records and check every signed and anchored head.

    Needs no password and changes nothing. Exits non-zero naming the first bad record
    if anything was changed, removed, inserted, reordered or rewritten, and when the
    log's identity differs from the one its operator bound it to or from the pins.
    """
    from ailedger.core.log import open_store, verify_log
    from ailedger.core.trust import check_bound_identity, describe_identity, load_pins, log_identity
    from ailedger.platform import OPERATOR_KEY, Platform

    pins = load_pins(trust, operator=operator, registry=registry, log_ids=log_id or ())
    with Platform.open(Settings(), read_only=True) as platform:
        # The registry lookup comes first: an unknown name must not create an empty log.
        anchorer = platform.log_reader(name)
        store = open_store(platform.settings, name=name, read_only=True)
        try:
            check_bound_identity(store, anchorer, name, platform.keystore.address(OPERATOR_KEY))
            report = verify_log(store, anchorer)
        finally:
            store.close()
        identity = log_identity(anchorer, [head.block_number for head in anchorer.chain_heads()])
    if pins is not None:
        pins.check(identity)
    console.print(
        f"[green]log '{name}' verified[/]: {report.records} records, root "
        f"0x{report.root.hex()}, {report.signed_heads} signed heads, "
        f"{report.chain_heads} anchored on chain (up to size {report.anchored_size})",
        highlight=False,
    )
    console.print(describe_identity(pins, identity), highlight=False)


@app.command("proof")
def proof(
    name: str = typer.Argument(..., help="Log name."),
    leaf_index: int = typer.Argument(..., help="The record's index in the log.", min=0),
    output: Path = typer.Option(
        Path("proof.json"), "--output", "-o", help="Where to write the bundle (- for stdout)."
    ),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="The record kind's bundle_type, e.g. ailedger.audit.proof/v1 to add a "
        "decision's own checks; default: ailedger.log.proof/v1 for canonical JSON, "
        "else ailedger.log.raw-proof/v1.",
    ),
) -> None:
    """Write the proof bundle of record LEAF_INDEX of log NAME (record, inclusion proof,
    the first anchored tree head covering it, its anchor); see core/log/bundle.py."""
    from ailedger.core.log import TransparencyLog, open_store
    from ailedger.core.log.bundle import build_bundle, record_kind
    from ailedger.platform import Platform

    _register_domain_record_kinds()
    record_type = record_kind(kind) if kind else None

    with Platform.open(Settings()) as platform:
        platform.log_reader(name)  # an unknown name must not create an empty log
        log = TransparencyLog(open_store(platform.settings, name=name))
        try:
            bundle = build_bundle(log, leaf_index, record_type)
        finally:
            log.close()
    write_bundle(bundle, output, bundle["bundle_type"])


@app.command("verify-proof")
def verify_proof(
    bundle_file: Path = typer.Argument(..., help="A proof bundle of any record kind."),
    trust: Path | None = TRUST_OPTION,
    operator: str | None = OPERATOR_OPTION,
    registry: str | None = REGISTRY_OPTION,
    log_id: list[str] | None = LOG_ID_OPTION,
) -> None:
    """Check a proof bundle of any log against the chain only; exit 1 if it does not verify.

    Pin whom you trust with --trust or --operator/--registry/--log-id, as for `audit verify`.
    """
    from ailedger.core.log.bundle import verify_bundle
    from ailedger.core.trust import load_pins

    _register_domain_record_kinds()
    pins = load_pins(trust, operator=operator, registry=registry, log_ids=log_id or ())
    verdict = verify_bundle_file(bundle_file, pins, verify_bundle)
    report_verdict(
        verdict, f"{verdict.bundle_type} record {verdict.record_id or verdict.leaf_index}"
    )


def write_bundle(bundle: dict[str, Any], output: Path, subject: str) -> None:
    """Write a proof bundle as `verify-proof` and `audit verify` read it, and say where
    it is anchored."""
    where = write_output(output, json.dumps(bundle, indent=2) + "\n")
    anchor = bundle["anchor"]
    # With -o -, stdout carries the bundle alone.
    (err_console if where == "stdout" else console).print(
        f"wrote {where}: {subject}, leaf "
        f"{bundle['inclusion_proof']['leaf_index']} of {bundle['tree_head']['tree_size']}, "
        f"anchored in {anchor['tx_hash']} on chain {anchor['chain_id']}",
        highlight=False,
    )


def _register_domain_record_kinds() -> None:
    """Import the domains whose records have their own kind, so their bundles carry
    their own checks; a new domain with a record kind adds its module here."""
    import ailedger.audit.verify
    import ailedger.iot.proof  # noqa: F401


def verify_bundle_file(
    bundle_file: Path,
    pins: Pins | None,
    verify: Callable[..., Verdict],
) -> Verdict:
    """Read a bundle file and ``verify(bundle, chain, pins)`` it on the configured chain."""
    from ailedger.core.chain import open_chain

    bundle = read_json_file(bundle_file, "bundle_file")
    chain = open_chain(Settings(), read_only=True)
    try:
        return verify(bundle, chain, pins)
    finally:
        chain.close()


def report_verdict(verdict: Verdict, verified: str) -> None:
    """Print each check, then VERIFIED naming ``verified``, or NOT VERIFIED and exit 1."""
    for check in verdict.checks:
        mark = "[green]ok[/]  " if check.ok else "[bold red]FAIL[/]"
        console.print(f"{mark} {check.name:<14} {check.detail}", highlight=False)
    if verdict.ok:
        console.print(f"[bold green]VERIFIED[/]: {verified}", highlight=False)
        return
    console.print(f"[bold red]NOT VERIFIED[/]: {verdict.reason}", highlight=False)
    raise typer.Exit(1)
