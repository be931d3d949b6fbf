"""`ailedger log ...`: inspect and verify the transparency logs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ailedger.cli.pins import LOG_ID_OPTION, OPERATOR_OPTION, REGISTRY_OPTION, TRUST_OPTION
from ailedger.config import Settings
from ailedger.core.log import open_store, verify_log
from ailedger.core.trust import check_bound_identity, describe_identity, load_pins, log_identity
from ailedger.platform import OPERATOR_KEY, Platform

app = typer.Typer(help="Inspect and verify transparency logs.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command("verify")
def verify(
    name: str = typer.Argument("decisions", help="Log name."),
    trust: Path | None = TRUST_OPTION,
    operator: str | None = OPERATOR_OPTION,
    registry: str | None = REGISTRY_OPTION,
    log_id: list[str] | None = LOG_ID_OPTION,
) -> None:
    """Recompute the log from its records and check every signed and anchored head.

    Needs no password and changes nothing. Exits non-zero naming the first bad record
    if anything was changed, removed, inserted, reordered or rewritten, and when the
    log's identity differs from the one its operator bound it to or from the pins.
    """
    pins = load_pins(trust, operator=operator, registry=registry, log_ids=log_id or ())
    with Platform.open(Settings(), read_only=True) as platform:
        # The registry lookup comes first: an unknown name must not create an empty log.
        anchorer = platform.log_reader(name)
        store = open_store(platform.settings, name=name, read_only=True)
        try:
            check_bound_identity(store, anchorer, name, platform.keystore.address(OPERATOR_KEY))
            report = verify_log(store, anchorer)
        finally:
            store.close()
        identity = log_identity(anchorer, [head.block_number for head in anchorer.chain_heads()])
    if pins is not None:
        pins.check(identity)
    console.print(
        f"[green]log '{name}' verified[/]: {report.records} records, root "
        f"0x{report.root.hex()}, {report.signed_heads} signed heads, "
        f"{report.chain_heads} anchored on chain (up to size {report.anchored_size})",
        highlight=False,
    )
    console.print(describe_identity(pins, identity), highlight=False)
