"""`ailedger trust export`: the operator's trust root, for verifiers to pin."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ailedger.cli.output import make_console, write_output
from ailedger.config import Settings

app = typer.Typer(help="Publish whom verifiers should trust.", no_args_is_help=True)
console = make_console()
err_console = make_console(stderr=True)


@app.command("export")
def export(
    output: Path = typer.Option(
        Path("trust.json"), "--output", "-o", help="Where to write the trust root (- for stdout)."
    ),
    log: list[str] | None = typer.Option(
        None, "--log", help="A log to include (repeatable); default: every log of the operator."
    ),
) -> None:
    """Write the trust root (chain, registry, operator, logs and their signers with the
    blocks they were in force), signed by the operator key. Publish it where verifiers
    get it independently of the data dir; they pass it as `--trust FILE`."""
    from ailedger.core.trust import export_trust_root, operator_log_names
    from ailedger.platform import Platform

    with Platform.open(Settings()) as platform:
        operator = platform.operator  # signs the document: needs the keystore password
        registry = platform.contract("AnchorRegistry")
        names = log or operator_log_names(registry, operator.address)
        root = export_trust_root(operator, {name: platform.log_reader(name) for name in names})
    where = write_output(output, json.dumps(root.to_dict(), indent=2) + "\n")
    (err_console if where == "stdout" else console).print(
        f"wrote {where}: chain {root.chain_id}, AnchorRegistry {root.registry}, operator "
        f"{root.operator.address}, logs {', '.join(log.name for log in root.logs)}",
        highlight=False,
    )
