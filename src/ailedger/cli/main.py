"""Entry point of the ``ailedger`` command.

Every subcommand raises ``AILedgerError`` for problems the user can fix;
:func:`main` prints it as one line and exits non-zero. File-system and
database failures (a missing directory, a read-only or full data dir, a
damaged SQLite file) are reported the same way: one line naming the file.

Subcommand modules import their heavy dependencies (web3, py-evm, scikit-learn)
inside the commands, so ``--help`` and commands that need no chain start fast.
"""

from __future__ import annotations

import sqlite3
import sys
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from ailedger.cli.output import make_console
from ailedger.config import Settings
from ailedger.errors import AILedgerError, UnauthorizedError

app = typer.Typer(
    name="ailedger",
    help="Accountable, fair AI on a blockchain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = make_console(stderr=True)


def _register_subcommands() -> None:
    from ailedger.cli import audit, fl, iot, keys, log, market, platform, services, trust

    app.add_typer(keys.app, name="keys")
    app.add_typer(log.app, name="log")
    app.add_typer(audit.app, name="audit")
    app.add_typer(services.app, name="services")
    app.add_typer(market.app, name="market")
    app.add_typer(trust.app, name="trust")
    app.add_typer(iot.app, name="iot")
    app.add_typer(fl.app, name="fl")
    app.add_typer(platform.chain_app, name="chain")
    app.command()(platform.demo)
    app.command()(platform.serve)


_register_subcommands()


def build_command() -> TyperGroup:
    """The click command tree of ``ailedger``, with plain help text.

    Help shows click's upper-case names (``NAME``, ``TEXT``) instead of Typer's
    ``<str>``/``<bool>`` tags, and a docstring paragraph reads as one sentence
    however its source lines were broken.
    """
    command = typer.main.get_command(app)
    _plain_help(command)
    return command


def main() -> None:
    """Run the CLI, turning ailedger errors into one-line messages and exit status 1.

    Invalid ``AILEDGER_*`` settings are reported the same way, named by their variable.
    Usage errors (unknown command, missing argument) are click's: exit status 2.
    """
    try:
        build_command()(prog_name="ailedger")
    except AILedgerError as error:
        _fail(error.field, error.message + _what_to_do(error))
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
    except OSError as error:
        _fail(None, _describe_os_error(error))
    except sqlite3.Error as error:
        _fail(None, f"the data dir's database failed: {error}. {_DATA_DIR_ADVICE}")
    except Exception as error:
        if not _is_psycopg_error(error):
            raise
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        _fail("AILEDGER_DATABASE_URL", f"PostgreSQL failed: {first_line or type(error).__name__}")


# Settings whose values are never echoed back in an error.
_SECRETS = frozenset({"AILEDGER_PASSWORD", "AILEDGER_API_TOKEN"})

_DATA_DIR_ADVICE = (
    "Check that the data dir (AILEDGER_HOME) is writable, has free space and was not damaged"
)


def _what_to_do(error: AILedgerError) -> str:
    # Advice that only makes sense at a shell (the API says the same without it).
    if isinstance(error, UnauthorizedError) and error.field == "password":
        return (
            "; set AILEDGER_PASSWORD to the password the key was created with (the demo's "
            "own keys use 'ailedger-demo'), or remove the key with `ailedger keys delete`"
        )
    return ""


def _describe_os_error(error: OSError) -> str:
    reason = error.strerror or type(error).__name__
    where = error.filename if error.filename is not None else None
    if where is None:
        return f"{reason} ({error})" if str(error) and str(error) != reason else reason
    target = f" -> {error.filename2}" if error.filename2 else ""
    return f"{where}{target}: {reason}"


def _is_psycopg_error(error: BaseException) -> bool:
    # psycopg is imported only with a PostgreSQL store; never import it just to check.
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(error, psycopg.Error)


def _plain_help(command: TyperCommand | TyperGroup) -> None:
    if command.help:
        command.help = _join_paragraph_lines(command.help)
    help_option = command.get_help_option(typer.Context(command))
    for param in [*command.params, help_option]:
        if isinstance(param, TyperArgument):
            param.metavar = param.metavar or param.name.upper()
            # The upper-case name already says what to type; no "<str>" column after it.
            param.display_type_rich = _no_type_column
        elif isinstance(param, TyperOption) and param.metavar is None:
            # An empty metavar hides the type column; a flag takes no value to describe.
            param.metavar = "" if param.is_flag else _value_name(param, command)
    for sub in getattr(command, "commands", {}).values():
        _plain_help(sub)


def _value_name(option: TyperOption, command: TyperCommand | TyperGroup) -> str | None:
    if not hasattr(option, "display_type"):
        return None  # Typer before 0.21 prints click's plain names already
    label = option.display_type(typer.Context(command)).strip("<>")
    label = label.removesuffix(" range")
    return {"str": "TEXT", "int": "INTEGER", "float": "NUMBER"}.get(label, label.upper())


def _no_type_column(ctx: typer.Context) -> None:
    return None


def _join_paragraph_lines(text: str) -> str:
    paragraphs = text.split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _fail(field: str | None, message: str) -> NoReturn:
    where = f" [{field}]" if field else ""
    # escape: "[field]" and messages such as "[a-z0-9]" are text, not rich markup.
    err_console.print(
        f"[bold red]error{escape(where)}:[/] {escape(message)}",
        highlight=False,
        soft_wrap=True,  # one line, however narrow the terminal
    )
    sys.exit(1)
