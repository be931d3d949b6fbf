"""The demo's federated step: 8 hospitals, a free-rider and a poisoner, rewards claimed."""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from ailedger.core.log import TransparencyLog, open_store
from ailedger.federated.job import LOG_NAME, JobSettings, demo_clients, run_job
from ailedger.federated.records import job_records
from ailedger.federated.views import hospitals_table, rounds_table
from ailedger.platform import Platform

__all__ = ["DEMO_JOB", "run_federated_scenario"]

DEMO_JOB = JobSettings(clients=demo_clients(8), strategy="median", rounds=3)


def run_federated_scenario(platform: Platform, console: Console) -> None:
    """Train on Flower in process, record and score every round, pay and claim on chain."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console) as progress:
        task = progress.add_task("starting the federated job", total=None)
        summary = run_job(
            platform,
            DEMO_JOB,
            progress=lambda message: progress.update(task, description=message),
        )
    log = TransparencyLog(open_store(platform.settings, name=LOG_NAME))
    try:
        records = job_records(log, summary.job_id)
    finally:
        log.close()
    console.print(rounds_table(records))
    console.print(hospitals_table(records))
    claims = Table(title=f"Rewards claimed from RewardPool {summary.pool}", show_header=False)
    for name, amount in summary.claimed.items():
        claims.add_row(name, f"{amount / 10**18:,.4f} ALT")
    claims.add_row("fl log", f"{summary.log_size} records, anchored: {summary.anchored}")
    console.print(claims)
    console.print(
        f"See it again: ailedger fl rounds --job {summary.job_id} && "
        f"ailedger fl scores --job {summary.job_id}"
    )
