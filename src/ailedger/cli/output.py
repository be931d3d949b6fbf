"""What every command prints through: consoles sized for terminals and pipes, tables or JSON.

On a terminal, output fits the window. Piped into a file or another program,
nothing is cut (addresses and hashes stay whole) and nothing animates.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ailedger.errors import InvalidInputError

# Wide enough for any row we print; tables still size to their content.
PIPED_WIDTH = 10_000

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")


def make_console(*, stderr: bool = False, piped_width: int = PIPED_WIDTH) -> Console:
    """A console that fits the terminal or, piped, is ``piped_width`` wide (tables still
    size to their content, so the default never cuts a row)."""
    stream = sys.stderr if stderr else sys.stdout
    piped = stream is None or not stream.isatty()
    return Console(stderr=stderr, soft_wrap=True, width=piped_width if piped else None)


def print_rows(
    console: Console,
    rows: Sequence[dict[str, Any]],
    *,
    title: str,
    as_json: bool,
    formats: dict[str, Callable[[Any], str]] | None = None,
) -> None:
    """Print ``rows`` as a table titled ``title``, or as a JSON array with ``as_json``.

    Columns are the keys of the rows; ``formats`` maps a column to how the table
    shows its value (the JSON always carries the raw value).
    """
    if as_json:
        print_json(rows)
        return
    formats = formats or {}
    table = Table(title=title)
    columns = list(rows[0]) if rows else []
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(*(formats.get(c, _plain)(row[c]) for c in columns))
    if not rows:
        console.print(f"{title}: none", highlight=False)
        return
    console.print(table)


def print_json(value: object) -> None:
    """Write ``value`` as indented JSON on stdout (big integers stay exact, bytes as 0x hex)."""
    typer.echo(json.dumps(value, indent=2, default=_json_default))


def _json_default(value: object) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def read_json_file(path: Path, field: str) -> Any:
    """The JSON document in ``path``; a missing file, bytes that are not JSON, or JSON
    nested too deep to parse is :class:`InvalidInputError` naming ``field``."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidInputError(f"no such file: {path}", field=field) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"{path} is not JSON: {error}", field=field) from None
    except RecursionError:
        raise InvalidInputError(f"{path} nests too deep to read", field=field) from None


def write_output(path: Path, text: str) -> str:
    """Write ``text`` to ``path``, or to stdout when ``path`` is ``-``; returns where it went."""
    if str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return "stdout"
    path.write_text(text)
    return str(path)


def _plain(value: Any) -> str:
    return "-" if value is None else str(value)
