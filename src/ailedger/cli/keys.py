"""`ailedger keys`: create, import, list and show keystore accounts.

The password comes from ``AILEDGER_PASSWORD`` or a hidden prompt; a private
key being imported comes from a hidden prompt or, when piped, from stdin. No
command ever prints a private key.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from ailedger.config import Settings
from ailedger.core.identity import Keystore

console = Console()
app = typer.Typer(help="Manage the accounts in the encrypted keystore.", no_args_is_help=True)

NAME = typer.Argument(..., help="Key name: lowercase letters, digits, '_' and '-'.")


@app.command("new")
def new(name: str = NAME) -> None:
    """Create a new random account named NAME."""
    settings = Settings()
    keystore = Keystore(settings)
    keystore.check_available(name)  # before prompting, not after
    password = _password(settings, confirm=True)
    account = keystore.create(name, password)
    console.print(f"created key [bold]{name}[/]: {account.address}", highlight=False)


@app.command("import")
def import_(name: str = NAME) -> None:
    """Import an existing private key as NAME (hidden prompt, or piped on stdin)."""
    settings = Settings()
    keystore = Keystore(settings)
    keystore.check_available(name)
    private_key = _read_private_key()
    password = _password(settings, confirm=True)
    account = keystore.import_key(name, private_key, password)
    console.print(f"imported key [bold]{name}[/]: {account.address}", highlight=False)


@app.command("list")
def list_() -> None:
    """List every account: name and address."""
    settings = Settings()
    keys = Keystore(settings).list()
    if not keys:
        console.print(f"no keys in {settings.keystore_dir}; create one with `ailedger keys new`")
        return
    table = Table("name", "address")
    for key in keys:
        table.add_row(key.name, key.address)
    console.print(table)


@app.command("show")
def show(name: str = NAME) -> None:
    """Print the address of NAME (only the address, for use in scripts)."""
    typer.echo(Keystore(Settings()).address(name))


@app.command("check")
def check(name: str = NAME) -> None:
    """Check that the password unlocks NAME (exit status 1 if it does not)."""
    settings = Settings()
    keystore = Keystore(settings)
    keystore.address(name)  # unknown name: fail before asking for a password
    account = keystore.unlock(name, _password(settings, confirm=False))
    console.print(f"password unlocks [bold]{name}[/]: {account.address}", highlight=False)


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
