"""Entry point of the ``ailedger`` command.

Every subcommand raises ``AILedgerError`` for problems the user can fix;
:func:`main` prints it as one line and exits non-zero.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from ailedger.errors import AILedgerError

app = typer.Typer(
    name="ailedger",
    help="Accountable, fair AI on a blockchain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _register_subcommands() -> None:
    from ailedger.cli import audit, keys, log, market, platform, services

    app.add_typer(keys.app, name="keys")
    app.add_typer(log.app, name="log")
    app.add_typer(audit.app, name="audit")
    app.add_typer(services.app, name="services")
    app.add_typer(market.app, name="market")
    app.add_typer(platform.chain_app, name="chain")
    app.command()(platform.demo)
    app.command()(platform.serve)


_register_subcommands()


def main() -> None:
    """Run the CLI, turning ailedger errors into one-line messages and exit status 1.

    Usage errors (unknown command, missing argument) are click's: exit status 2.
    """
    try:
        app()
    except AILedgerError as error:
        where = f" [{error.field}]" if error.field else ""
        # escape: "[field]" and messages such as "[a-z0-9]" are text, not rich markup.
        err_console.print(
            f"[bold red]error{escape(where)}:[/] {escape(error.message)}",
            highlight=False,
            soft_wrap=True,  # one line, however narrow the terminal
        )
        sys.exit(1)
