"""`ailedger fl`: federated training jobs on Flower, their rounds, scores and reward claims."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ailedger.config import Settings
from ailedger.errors import InvalidInputError

console = Console(soft_wrap=True)
app = typer.Typer(help="Federated learning on Flower: jobs, rounds, scores, reward claims.")

_ALT = 10**18


@contextmanager
def _records(job: int | None) -> Iterator[list[dict[str, Any]]]:
    """The job's records from the fl log (the last job when ``job`` is None)."""
    from ailedger.core.log import TransparencyLog, open_store
    from ailedger.federated import LOG_NAME
    from ailedger.federated.records import job_records, latest_job_id

    log = TransparencyLog(open_store(Settings(), name=LOG_NAME))
    try:
        yield job_records(log, latest_job_id(log) if job is None else job)
    finally:
        log.close()


@app.command("run")
def run(
    strategy: str = typer.Option("median", help="fedavg, krum, multikrum, trimmed-mean or median"),
    rounds: int = typer.Option(3, min=1, help="Training rounds."),
    hospitals: int = typer.Option(8, min=3, help="Hospitals (the last two: free-rider, poisoner)."),
    task: str = typer.Option("breast-cancer", help="breast-cancer or digits."),
    model: str = typer.Option("logistic-regression", help="logistic-regression or mlp."),
    budget: float = typer.Option(300.0, help="ALT the job pays over all its rounds."),
    claim: bool = typer.Option(True, help="Let every hospital claim its rewards at the end."),
    deploy: bool = typer.Option(
        False, help="On Flower's deployment runtime: a SuperLink and one SuperNode per hospital."
    ),
) -> None:
    """Run a job on Flower (in process, or --deploy): every round recorded, scored, rewarded."""
    from ailedger.federated import JobSettings, demo_clients, run_job
    from ailedger.platform import Platform

    if budget <= 0:
        raise InvalidInputError(f"budget: expected > 0 ALT, got {budget}", field="budget")
    settings = JobSettings(
        clients=demo_clients(hospitals),
        task=task,
        model=model,
        strategy=strategy,
        rounds=rounds,
        budget=int(budget * _ALT),
    )
    if deploy:
        from ailedger.federated.deploy import run_deployed

        with Platform.open(Settings()) as platform:
            platform.deploy_core_contracts()
        console.log("starting a SuperLink and SuperNodes on 127.0.0.1")
        work = run_deployed(Settings(), settings, claim=claim)
        console.print(f"Flower logs in {work}")
        _show(None)
        return
    with Platform.open(Settings()) as platform:
        summary = run_job(platform, settings, progress=console.log, claim=claim)
    console.print(f"job {summary.job_id} on RewardPool {summary.pool}")
    _show(summary.job_id)


def _show(job: int | None) -> None:
    from ailedger.federated.views import hospitals_table, rounds_table

    with _records(job) as records:
        console.print(rounds_table(records))
        console.print(hospitals_table(records))


@app.command("rounds")
def rounds_command(job: int = typer.Option(None, help="Job id (default: the last one).")) -> None:
    """Each round: accuracy, loss, accepted and rejected updates, model hash, reward root."""
    from ailedger.federated.views import rounds_table

    with _records(job) as records:
        console.print(rounds_table(records))


@app.command("scores")
def scores(job: int = typer.Option(None, help="Job id (default: the last one).")) -> None:
    """Each hospital: Shapley and leave-one-out scores, ALT earned, why it was flagged."""
    from ailedger.federated.views import hospitals_table

    with _records(job) as records:
        console.print(hospitals_table(records))


@app.command("claim")
def claim(
    hospital: str = typer.Argument(..., help="The hospital's keystore name."),
    job: int = typer.Option(None, help="Job id (default: the last one)."),
) -> None:
    """Claim every unclaimed reward of ``hospital`` in the job, each with its Merkle proof."""
    from ailedger.federated.records import reward_tree
    from ailedger.federated.rewards import RewardPool
    from ailedger.platform import Platform

    with _records(job) as records, Platform.open(Settings()) as platform:
        account = platform.account(hospital)
        pool = platform.contract("RewardPool")
        if pool.address != records[0]["pool"]:
            raise InvalidInputError(
                f"job: its RewardPool {records[0]['pool']} is not this chain's {pool.address}",
                field="job",
            )
        reward_pool = RewardPool(pool, platform.contract("ALTToken"))
        table = Table(title=f"{hospital} claims job {records[0]['job_id']}")
        for column in ("round", "ALT", "status"):
            table.add_column(column)
        for record in records:
            if record["kind"] != "fl.round" or account.address not in record["rewards"]:
                continue
            round_number = record["round"]
            amount = int(record["rewards"][account.address])
            if reward_pool.has_claimed(record["job_id"], round_number, account.address):
                status = "claimed before"
            else:
                receipt = reward_pool.claim(account, reward_tree(records, round_number))
                status = f"claimed in block {receipt.block_number}"
            table.add_row(str(round_number), f"{amount / _ALT:,.4f}", status)
        if not table.rows:
            table.add_row("-", "0", "no reward in this job")
    console.print(table)
