"""Entry point of the ``ailedger`` command.

Every subcommand raises ``AILedgerError`` for problems the user can fix;
:func:`main` prints it as one line and exits non-zero.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from ailedger.config import Settings
from ailedger.errors import AILedgerError

app = typer.Typer(
    name="ailedger",
    help="Accountable, fair AI on a blockchain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _register_subcommands() -> None:
    from ailedger.cli import audit, fl, keys, log, market, platform, services, trust

    app.add_typer(keys.app, name="keys")
    app.add_typer(log.app, name="log")
    app.add_typer(audit.app, name="audit")
    app.add_typer(services.app, name="services")
    app.add_typer(market.app, name="market")
    app.add_typer(trust.app, name="trust")
    app.add_typer(fl.app, name="fl")
    app.add_typer(platform.chain_app, name="chain")
    app.command()(platform.demo)
    app.command()(platform.serve)


_register_subcommands()


def main() -> None:
    """Run the CLI, turning ailedger errors into one-line messages and exit status 1.

    Invalid ``AILEDGER_*`` settings are reported the same way, named by their variable.
    Usage errors (unknown command, missing argument) are click's: exit status 2.
    """
    try:
        app()
    except AILedgerError as error:
        _fail(error.field, error.message)
    except ValidationError as error:
        # Settings() read a bad AILEDGER_* variable: name the variable, not a traceback.
        if error.title != Settings.__name__:
            raise
        first = error.errors()[0]
        variable = "AILEDGER_" + "_".join(str(part) for part in first["loc"]).upper()
        message = first["msg"].removeprefix("Value error, ")
        if "got" not in message and variable not in _SECRETS:
            message += f", got {first.get('input')!r}"
        _fail(variable, message)


# Settings whose values are never echoed back in an error.
_SECRETS = frozenset({"AILEDGER_PASSWORD", "AILEDGER_API_TOKEN"})


def _fail(field: str | None, message: str) -> NoReturn:
    where = f" [{field}]" if field else ""
    # escape: "[field]" and messages such as "[a-z0-9]" are text, not rich markup.
    err_console.print(
        f"[bold red]error{escape(where)}:[/] {escape(message)}",
        highlight=False,
        soft_wrap=True,  # one line, however narrow the terminal
    )
    sys.exit(1)
