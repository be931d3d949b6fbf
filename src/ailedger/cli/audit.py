"""`ailedger audit`: proof bundles for decisions, their verification, regulator export.

``proof`` and ``export`` read the operator's log and decision table in the data
dir; ``verify`` reads nothing but the bundle file and the chain, so anyone can
run it.
"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

import typer

from ailedger.cli.output import make_console, read_json_file
from ailedger.cli.pins import LOG_ID_OPTION, OPERATOR_OPTION, REGISTRY_OPTION, TRUST_OPTION
from ailedger.config import Settings

console = make_console()
# Progress messages go to stderr when the result itself goes to stdout (`-o -`).
err_console = make_console(stderr=True)
app = typer.Typer(help="Prove, verify and export audited AI decisions.", no_args_is_help=True)


@app.command("proof")
def proof(
    decision_id: str = typer.Argument(..., help="The decision's id (64 hex digits)."),
    output: Path = typer.Option(
        Path("proof.json"), "--output", "-o", help="Where to write the bundle; - for stdout."
    ),
) -> None:
    """Write the self-contained proof bundle of DECISION_ID (record, proof, tree head, anchor)."""
    from ailedger.audit.proofs import build_proof_bundle
    from ailedger.audit.scenario import open_decision_index
    from ailedger.cli.log import write_bundle
    from ailedger.core.log import TransparencyLog, open_store

    settings = Settings()
    log = TransparencyLog(open_store(settings))
    try:
        with open_decision_index(settings) as index:
            bundle = build_proof_bundle(decision_id, log, index)
    finally:
        log.close()
    write_bundle(bundle, output, f"decision {decision_id[:16]}...")


@app.command("verify")
def verify(
    bundle_file: Path = typer.Argument(..., help="A proof bundle written by `audit proof`."),
    trust: Path | None = TRUST_OPTION,
    operator: str | None = OPERATOR_OPTION,
    registry: str | None = REGISTRY_OPTION,
    log_id: list[str] | None = LOG_ID_OPTION,
) -> None:
    """Check a proof bundle against the chain only; exit status 1 if it does not verify.

    Pin whom you trust with --trust (the operator's published trust root) or
    --operator/--registry/--log-id; the last check says what was verified against.
    """
    from ailedger.audit.verify import verify_bundle
    from ailedger.cli.log import report_verdict, verify_bundle_file
    from ailedger.core.trust import load_pins

    pins = load_pins(trust, operator=operator, registry=registry, log_ids=log_id or ())
    verdict = verify_bundle_file(bundle_file, pins, verify_bundle)
    report_verdict(verdict, f"decision {verdict.decision_id}")


@app.command("check-promise")
def check_promise_command(
    promise_file: Path = typer.Argument(..., help="A promise (JSON) from POST /audit/decisions."),
    evidence_file: Path = typer.Option(
        Path("evidence.json"), "--evidence", help="Where to write evidence of a broken promise."
    ),
    key: str = typer.Option(
        "auditor", "--key", help="Keystore account that signs the evidence (needs the password)."
    ),
) -> None:
    """Check a signed inclusion promise against the chain.

    Exit 0 when a head covering the leaf was anchored by the deadline (or it is not due
    yet); exit 1 with signed evidence written to --evidence when it was not.
    """
    from ailedger import contracts
    from ailedger.core.chain import Contract
    from ailedger.core.log import Anchorer, SignedPromise, check_promise, evidence
    from ailedger.platform import Platform

    signed = SignedPromise.from_dict(read_json_file(promise_file, "promise_file"))
    promise = signed.promise
    with Platform.open(Settings()) as platform:
        # The promise names its registry: ask it only if its code is really ours.
        contracts.check_deployed_code(platform.chain, "AnchorRegistry", promise.registry)
        registry = Contract(platform.chain, promise.registry, contracts.load("AnchorRegistry").abi)
        result = check_promise(signed, Anchorer(registry, promise.log_id))
        if result.status != "broken":
            console.print(f"promise {result.status}: {result.reason}", highlight=False)
            return
        document = evidence(signed, result, platform.account(key, create=platform.is_dev_chain))
    evidence_file.write_text(json.dumps(document, indent=2) + "\n")
    console.print(
        f"[bold red]promise BROKEN[/]: {result.reason}; signed evidence written to {evidence_file}",
        highlight=False,
    )
    raise typer.Exit(1)


@app.command("export")
def export(
    since: datetime = typer.Option(..., help="Start of the period (inclusive), ISO 8601."),
    until: datetime = typer.Option(..., help="End of the period (exclusive), ISO 8601."),
    output: Path = typer.Option(
        Path("decisions.jsonl"),
        "--output",
        "-o",
        help="Where to write the JSON Lines; - for stdout.",
    ),
) -> None:
    """Write the decisions of a period with their proofs as JSON Lines (EU AI Act Art. 12).

    Times without a timezone are taken as UTC.
    """
    from ailedger.audit.export import export_decisions
    from ailedger.audit.scenario import open_decision_index
    from ailedger.core.log import TransparencyLog, open_store

    settings = Settings()
    log = TransparencyLog(open_store(settings))
    count = 0
    try:
        to_stdout = str(output) == "-"
        target = nullcontext(sys.stdout) if to_stdout else output.open("w")
        with open_decision_index(settings) as index, target as out:
            for line in export_decisions(_utc(since), _utc(until), log, index):
                out.write(json.dumps(line, separators=(",", ":")) + "\n")
                count += 1
    finally:
        log.close()
    (err_console if to_stdout else console).print(
        f"wrote {count} decisions to {'stdout' if to_stdout else output}", highlight=False
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
