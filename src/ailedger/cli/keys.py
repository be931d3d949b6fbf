"""`ailedger keys`: create, import, list, show, check and delete keystore accounts.

The password comes from ``AILEDGER_PASSWORD`` or a hidden prompt; a private
key being imported comes from a hidden prompt or, when piped, from stdin. No
command ever prints a private key.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from ailedger.cli.output import JSON_OPTION, make_console, print_rows
from ailedger.config import Settings

if TYPE_CHECKING:
    from ailedger.core.identity import Keystore

console = make_console()
app = typer.Typer(help="Manage the accounts in the encrypted keystore.", no_args_is_help=True)

NAME = typer.Argument(..., help="Key name: lowercase letters, digits, '_' and '-'.")


@app.command("new")
def new(name: str = NAME) -> None:
    """Create a new random account named NAME."""
    settings = Settings()
    keystore = _keystore(settings)
    keystore.check_available(name)  # before prompting, not after
    password = _password(settings, confirm=True)
    account = keystore.create(name, password)
    console.print(f"created key [bold]{name}[/]: {account.address}", highlight=False)


@app.command("import")
def import_(name: str = NAME) -> None:
    """Import an existing private key as NAME (hidden prompt, or piped on stdin)."""
    settings = Settings()
    keystore = _keystore(settings)
    keystore.check_available(name)
    private_key = _read_private_key()
    password = _password(settings, confirm=True)
    account = keystore.import_key(name, private_key, password)
    console.print(f"imported key [bold]{name}[/]: {account.address}", highlight=False)


@app.command("list")
def list_(as_json: bool = JSON_OPTION) -> None:
    """List every account: name and address."""
    settings = Settings()
    keys = _keystore(settings).list()
    if not keys and not as_json:
        console.print(f"no keys in {settings.keystore_dir}; create one with `ailedger keys new`")
        return
    rows = [{"name": key.name, "address": key.address} for key in keys]
    print_rows(console, rows, title="Keys", as_json=as_json)


@app.command("show")
def show(name: str = NAME) -> None:
    """Print the address of NAME (only the address, for use in scripts)."""
    typer.echo(_keystore(Settings()).address(name))


@app.command("check")
def check(name: str = NAME) -> None:
    """Check that the password unlocks NAME (exit status 1 if it does not)."""
    settings = Settings()
    keystore = _keystore(settings)
    keystore.address(name)  # unknown name: fail before asking for a password
    account = keystore.unlock(name, _password(settings, confirm=False))
    console.print(f"password unlocks [bold]{name}[/]: {account.address}", highlight=False)


@app.command("delete")
def delete(
    name: str = NAME,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete the key NAME for good; whatever its address holds becomes unreachable."""
    keystore = _keystore(Settings())
    address = keystore.address(name)  # unknown name: fail before asking
    if not yes:
        typer.confirm(
            f"Delete key {name} ({address})? Anything it holds becomes unreachable",
            abort=True,
        )
    keystore.path(name).unlink()
    console.print(f"deleted key [bold]{name}[/]: {address}", highlight=False)


def _keystore(settings: Settings) -> Keystore:
    # Imported here: eth_account is slow to import and `--help` never needs it.
    from ailedger.core.identity import Keystore

    return Keystore(settings)


def _password(settings: Settings, *, confirm: bool) -> str:
    if settings.password is not None:
        return settings.password
    return typer.prompt("Keystore password", hide_input=True, confirmation_prompt=confirm)


def _read_private_key() -> str:
    # Piped input (e.g. from a secrets manager) is read as-is; a terminal gets a
    # hidden prompt so the key never shows on screen or in shell history.
    if sys.stdin is not None and not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    return typer.prompt("Private key (hex)", hide_input=True)
