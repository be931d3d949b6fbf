"""`ailedger demo`, `ailedger chain status` and `ailedger serve`."""

from __future__ import annotations

import typer
from rich.table import Table

from ailedger.cli.output import JSON_OPTION, make_console, print_json
from ailedger.config import Settings

console = make_console()
chain_app = typer.Typer(help="Inspect the configured chain.", no_args_is_help=True)


@chain_app.command("status")
def chain_status(as_json: bool = JSON_OPTION) -> None:
    """Chain id, head block, deployed contracts and ALT supply."""
    from dataclasses import asdict

    from ailedger.platform import Platform

    with Platform.open(Settings()) as platform:
        status = platform.status()
    if as_json:
        print_json(asdict(status))
        return
    table = Table(title=f"Chain {status.chain_id}: {status.description}", show_header=False)
    table.add_row("head block", str(status.head_block))
    for name, address in status.contracts.items():
        table.add_row(name, address)
    if status.token_supply is not None:
        table.add_row("ALT supply", f"{status.token_supply / 10**18:,.2f} {status.token_symbol}")
    console.print(table)


def demo() -> None:
    """Run the end-to-end demo of every use case on the configured engines."""
    from ailedger.demo import run_demo

    # Piped, the demo's section rules span this width; its widest table row fits in it.
    run_demo(Settings(), make_console(piped_width=160))


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
) -> None:
    """Serve the API (OpenAPI docs at /docs) and the dashboard (at /)."""
    import uvicorn

    from ailedger.api import create_app

    uvicorn.run(create_app(Settings()), host=host, port=port)
