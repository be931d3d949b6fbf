"""`ailedger log ...`: inspect and verify the transparency logs."""

from __future__ import annotations

import typer

from ailedger.cli.output import make_console
from ailedger.config import Settings

app = typer.Typer(help="Inspect and verify transparency logs.", no_args_is_help=True)
console = make_console()


@app.command("verify")
def verify(name: str = typer.Argument("decisions", help="Log name.")) -> None:
    """Recompute the log from its records and check every signed and anchored head.

    Needs no password and changes nothing. Exits non-zero naming the first bad record
    if anything was changed, removed, inserted, reordered or rewritten.
    """
    from ailedger.core.log import open_store, verify_log
    from ailedger.platform import Platform

    with Platform.open(Settings()) as platform:
        # The registry lookup comes first: an unknown name must not create an empty log.
        anchorer = platform.log_reader(name)
        store = open_store(platform.settings, name=name)
        try:
            report = verify_log(store, anchorer)
        finally:
            store.close()
    console.print(
        f"[green]log '{name}' verified[/]: {report.records} records, root "
        f"0x{report.root.hex()}, {report.signed_heads} signed heads, "
        f"{report.chain_heads} anchored on chain (up to size {report.anchored_size})",
        highlight=False,
    )
