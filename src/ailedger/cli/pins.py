"""The options every verify command takes to pin whom it trusts (see core/trust.py)."""

from __future__ import annotations

import typer

TRUST_OPTION = typer.Option(
    None,
    "--trust",
    help="The operator's trust root (from `ailedger trust export`, obtained from the "
    "operator's published copy, not the data dir): pins chain, registry, logs and keys.",
)
OPERATOR_OPTION = typer.Option(None, "--operator", help="Pin the operator (log admin) address.")
REGISTRY_OPTION = typer.Option(None, "--registry", help="Pin the AnchorRegistry address.")
LOG_ID_OPTION = typer.Option(None, "--log-id", help="Pin a log id (0x + 64 hex); repeatable.")
