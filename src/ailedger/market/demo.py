"""The marketplace step of ``ailedger demo``: run the patient pool, print what happened."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from ailedger.market.scenario import MarketSummary, run_patient_market

if TYPE_CHECKING:
    from ailedger.platform import Platform

__all__ = ["print_market_summary", "run_market_scenario"]

SHOWN_PATIENTS = 12


def _alt(wei: int) -> str:
    return f"{wei / 10**18:,.4f}"


def run_market_scenario(platform: Platform, console: Console) -> MarketSummary:
    """Demo step: patients pool their data, two labs pay, every patient is paid and withdraws."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        console=console,
        disable=not console.is_terminal,  # piped into a file, a spinner leaves only frames
    ) as progress:
        task = progress.add_task("starting the data marketplace", total=None)
        summary = run_patient_market(
            platform, progress=lambda message: progress.update(task, description=message)
        )
    print_market_summary(summary, console)
    return summary


def print_market_summary(summary: MarketSummary, console: Console) -> None:
    """The tables of the marketplace step."""
    pool = Table(title=f"Pool {summary.pool_id}, listing {summary.listing_id}", show_header=False)
    pool.add_row("market contract", summary.market)
    pool.add_row("contributors", f"{summary.patients} patients, {summary.rows} records")
    pool.add_row("anonymization gate", summary.gate_summary)
    pool.add_row(
        "generalization levels",
        ", ".join(f"{name} {level}" for name, level in summary.generalization.items()),
    )
    if summary.dp_summary:
        means = summary.dp_summary.get("means", {})
        pool.add_row(
            f"public DP summary (epsilon {summary.dp_summary.get('epsilon')})",
            ", ".join(f"{k} ≈ {v:.2f}" for k, v in means.items()),
        )
    console.print(pool)

    sales = Table(
        title="Sales (key posted on chain to the buyer's delivery key; escrow released by the "
        "buyer's acknowledgement, or to anyone after the dispute window)"
    )
    sales.add_column("purchase")
    sales.add_column("what")
    sales.add_column("result")
    sales.add_column("gas to release", justify="right")
    sales.add_row(
        str(summary.access_purchase),
        "lab-a: dataset access",
        f"{summary.access_rows_received} anonymized rows decrypted",
        f"{summary.access_sale_gas:,}",
    )
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in summary.compute_metrics.items())
    sales.add_row(
        str(summary.compute_purchase),
        f"lab-b: compute-to-data ({summary.compute_estimator})",
        f"model {summary.model_hash[:16]}…; {metrics}; no rows released",
        f"{summary.compute_sale_gas:,}",
    )
    console.print(sales)

    earnings = Table(
        title=f"Patients paid automatically (first {SHOWN_PATIENTS} of {summary.patients})"
    )
    for column in ("patient", "records", "quality", "after sale 1", "after sale 2", "withdrawn"):
        earnings.add_column(column, justify="left" if column == "patient" else "right")
    for e in summary.earnings[:SHOWN_PATIENTS]:
        earnings.add_row(
            e.label,
            str(e.records),
            f"{e.quality_bps / 100:.0f}%",
            _alt(e.after_access_sale),
            _alt(e.after_compute_sale),
            _alt(e.withdrawn),
        )
    console.print(earnings)
    console.print(
        f"{summary.patients} patients withdrew {_alt(summary.total_paid_to_patients)} ALT in "
        f"total ({summary.withdraw_gas:,} gas each); platform fee {_alt(summary.fee_paid)} ALT. "
        "Every sale costs the same gas whatever the pool size: one revenue-per-share update "
        "(the first settlement also initialises the pool's accumulator and the fee balance)."
    )
    console.print(
        f"market log: {summary.log_size} records, root {summary.log_root[:18]}…, "
        f"anchored in {summary.anchor_tx}"
    )
