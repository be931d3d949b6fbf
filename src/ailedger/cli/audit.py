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

from ailedger.cli.output import make_console, write_output
from ailedger.config import Settings
from ailedger.errors import InvalidInputError

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
    from ailedger.core.log import TransparencyLog, open_store

    settings = Settings()
    log = TransparencyLog(open_store(settings))
    try:
        with open_decision_index(settings) as index:
            bundle = build_proof_bundle(decision_id, log, index)
    finally:
        log.close()
    where = write_output(output, json.dumps(bundle, indent=2) + "\n")
    anchor = bundle["anchor"]
    (err_console if where == "stdout" else console).print(
        f"wrote {where}: decision {decision_id[:16]}..., leaf "
        f"{bundle['inclusion_proof']['leaf_index']} of {bundle['tree_head']['tree_size']}, "
        f"anchored in {anchor['tx_hash']} on chain {anchor['chain_id']}",
        highlight=False,
    )


@app.command("verify")
def verify(
    bundle_file: Path = typer.Argument(..., help="A proof bundle written by `audit proof`."),
) -> None:
    """Check a proof bundle against the chain only; exit status 1 if it does not verify."""
    from ailedger.audit.verify import verify_bundle
    from ailedger.core.chain import open_chain

    bundle = _read_json(bundle_file)
    chain = open_chain(Settings())
    try:
        verdict = verify_bundle(bundle, chain)
    finally:
        chain.close()
    for check in verdict.checks:
        mark = "[green]ok[/]  " if check.ok else "[bold red]FAIL[/]"
        console.print(f"{mark} {check.name:<14} {check.detail}", highlight=False)
    if verdict.ok:
        console.print(f"[bold green]VERIFIED[/]: decision {verdict.decision_id}", highlight=False)
        return
    console.print(f"[bold red]NOT VERIFIED[/]: {verdict.reason}", highlight=False)
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


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidInputError(f"no such file: {path}", field="bundle_file") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"{path} is not JSON: {error}", field="bundle_file") from None
