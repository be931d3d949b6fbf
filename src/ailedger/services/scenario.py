"""The demo of paid model services: two models, a few hundred paid calls, one claim each.

:func:`run_services_scenario` publishes the diagnosis model (breast cancer) and the
audit domain's credit model as services of the ``model-owner`` account, lets the
``consumer`` account open one channel to each and pay for a few hundred calls with
vouchers, proves one call of each from its receipt and the anchored log, and has
the owner claim each channel once and withdraw. It prints rich tables and returns
a :class:`ServicesSummary`; hosts run in process (``ailedger services serve`` runs
the same host over HTTP).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ailedger.errors import IntegrityError
from ailedger.platform import Platform
from ailedger.services.client import PaidCall, ServiceClient
from ailedger.services.deployment import deploy_service_contracts
from ailedger.services.host import ServiceHost
from ailedger.services.models import ServedModel, credit_model, diagnosis_model
from ailedger.services.registry import ModelListing
from ailedger.services.runtime import (
    OWNER_KEY,
    open_consumer_records,
    open_host,
    publish_model,
)
from ailedger.services.transport import LocalTransport

__all__ = ["ServiceRun", "ServicesSummary", "run_services_scenario"]

CONSUMER_KEY = "consumer"
ALT = 10**18
FUNDING_WEI = 10 * 10**18
DEPOSIT_RUNS = 2
# (model builder, price per call in ALT wei, calls in the demo, endpoint `serve` would use)
PLAN: tuple[tuple[str, int, int, str], ...] = (
    ("diagnosis", ALT // 100, 240, "http://127.0.0.1:8101"),
    ("credit", ALT // 50, 60, "http://127.0.0.1:8102"),
)
_BUILDERS = {"diagnosis": diagnosis_model, "credit": credit_model}


@dataclass(frozen=True)
class ServiceRun:
    """One model's part of the scenario."""

    name: str
    model_id: str
    model_hash: str
    price: int
    calls: int
    channel_id: int
    paid_by_consumer: int
    claimed: int
    claim_gas: int
    proof_verified: bool
    proof_anchor_block: int


@dataclass(frozen=True)
class ServicesSummary:
    """What the services scenario did, for the demo and the dashboard."""

    services: tuple[ServiceRun, ...]
    consumer: str
    owner: str
    consumer_alt_before: int
    consumer_alt_after: int
    owner_withdrawn: int
    seconds: float
    transfer_gas: int = 34_139  # one ALT transfer, measured on the embedded chain
    receipts: tuple[dict, ...] = field(default=(), repr=False)

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.services)

    @property
    def claim_gas_per_call(self) -> float:
        return sum(s.claim_gas for s in self.services) / max(self.calls, 1)


def run_services_scenario(platform: Platform, console: Console) -> ServicesSummary:
    """Run the scenario on ``platform``, printing progress and tables to ``console``."""
    started = time.perf_counter()
    contracts = deploy_service_contracts(platform)
    owner = platform.account(OWNER_KEY, create=True, fund_wei=FUNDING_WEI)
    consumer = platform.account(CONSUMER_KEY, create=True, fund_wei=FUNDING_WEI)
    token, channels = contracts.token, contracts.channels
    # Deposits cover two runs of the demo, so a second run reuses the channels.
    needed = sum(DEPOSIT_RUNS * price * calls for _, price, calls, _ in PLAN)
    if token.balanceOf(consumer.address) < needed:
        token.mint(consumer.address, needed, sender=platform.operator)
    alt_before = token.balanceOf(consumer.address)

    hosts: dict[bytes, ServiceHost] = {}
    listings: list[tuple[ModelListing, ServedModel, int]] = []
    records = open_consumer_records(platform.settings, consumer.address)
    client = ServiceClient(
        consumer,
        contracts.registry,
        channels,
        records=records,
        transport_for=lambda listing: LocalTransport(hosts[listing.model_id]),
    )
    total_calls = sum(calls for _, _, calls, _ in PLAN)
    runs: list[ServiceRun] = []
    receipts: list[dict] = []
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            setup = progress.add_task("training and publishing models", total=len(PLAN))
            for builder, price, calls, endpoint in PLAN:
                progress.update(setup, description=f"training {builder}")
                model = _BUILDERS[builder]()
                listing, name = _publish(platform, contracts, owner, model, price, endpoint)
                hosts[listing.model_id] = open_host(platform, contracts, owner, name, model=model)
                listings.append((listing, model, calls))
                progress.advance(setup)
            progress.update(setup, description="models published")

            paying = progress.add_task("paid calls", total=total_calls)
            made: dict[bytes, list[PaidCall]] = {}
            for listing, model, calls in listings:
                progress.update(paying, description=f"paid calls to {listing.name}")
                client.channel_for(listing, deposit=DEPOSIT_RUNS * calls * listing.price)
                made[listing.model_id] = [
                    _call(client, listing, model, i, progress, paying) for i in range(calls)
                ]

            proving = progress.add_task("proving and claiming", total=len(listings))
            for listing, _, calls in listings:
                host = hosts[listing.model_id]
                last = made[listing.model_id][-1]
                progress.update(proving, description=f"proving a {listing.name} call")
                host.anchor_now()  # the operator's own process: no batch-policy wait
                report = client.prove(last, listing)
                progress.update(proving, description=f"claiming {listing.name}")
                claims = host.claim_all()
                runs.append(
                    ServiceRun(
                        name=listing.name,
                        model_id="0x" + listing.model_id.hex(),
                        model_hash="0x" + listing.model_hash.hex(),
                        price=listing.price,
                        calls=calls,
                        channel_id=last.voucher.channel_id,
                        paid_by_consumer=calls * listing.price,
                        claimed=sum(c.paid for c in claims),
                        claim_gas=sum(c.receipt.gas_used for c in claims),
                        proof_verified=report.log_index == last.log_index,
                        proof_anchor_block=report.anchor_block,
                    )
                )
                receipts += [call.to_dict() for call in made[listing.model_id][:3]]
                progress.advance(proving)
            withdrawn = channels.withdraw(owner)
    finally:
        for host in hosts.values():
            host.close()
        records.close()

    summary = ServicesSummary(
        services=tuple(runs),
        consumer=consumer.address,
        owner=owner.address,
        consumer_alt_before=alt_before,
        consumer_alt_after=token.balanceOf(consumer.address),
        owner_withdrawn=withdrawn,
        seconds=time.perf_counter() - started,
        receipts=tuple(receipts),
    )
    _print(console, summary, contracts.channels.balance_of(owner.address))
    return summary


def _publish(platform, contracts, owner, model, price, endpoint) -> tuple[ModelListing, str]:
    try:
        listing, _ = publish_model(
            platform, contracts, owner, model, price=price, endpoint=endpoint
        )
        return listing, model.name
    except IntegrityError:
        # The name is taken by an earlier, different model: publish under a versioned name.
        name = f"{model.name}-{model.model_hash.hex()[:8]}"
        listing, _ = publish_model(
            platform, contracts, owner, model, price=price, endpoint=endpoint, name=name
        )
        return listing, name


def _call(client, listing, model, i, progress, task) -> PaidCall:
    call = client.call(listing, model.examples[i % len(model.examples)])
    progress.advance(task)
    return call


def _alt(wei: int) -> str:
    return f"{wei / ALT:,.2f}"


def _print(console: Console, summary: ServicesSummary, owner_credit: int) -> None:
    services = Table(title="Model services: paid per call through payment channels")
    for column in ("service", "price (ALT)", "calls", "channel", "paid", "claimed", "claim gas"):
        services.add_column(column, justify="left" if column == "service" else "right")
    for run in summary.services:
        services.add_row(
            run.name,
            _alt(run.price),
            str(run.calls),
            str(run.channel_id),
            _alt(run.paid_by_consumer),
            _alt(run.claimed),
            f"{run.claim_gas:,}",
        )
    console.print(services)

    balances = Table(title="ALT balances")
    balances.add_column("account")
    balances.add_column("address")
    balances.add_column("ALT", justify="right")
    balances.add_row("consumer (before)", summary.consumer, _alt(summary.consumer_alt_before))
    balances.add_row(
        "consumer (after; rest in channels)", summary.consumer, _alt(summary.consumer_alt_after)
    )
    balances.add_row(
        "model owner (withdrawn this run)", summary.owner, _alt(summary.owner_withdrawn)
    )
    balances.add_row("model owner (still credited)", summary.owner, _alt(owner_credit))
    console.print(balances)

    receipts = Table(title="Signed call receipts (first calls of each service)")
    for column in ("service", "nonce", "paid so far (ALT)", "output", "request hash", "log index"):
        receipts.add_column(column)
    for item in summary.receipts:
        receipt = item["receipt"]
        output = ", ".join(f"{k}={v}" for k, v in item["output"].items())
        receipts.add_row(
            item["model_name"],
            str(receipt["nonce"]),
            _alt(receipt["amount"]),
            output,
            receipt["request_hash"][:18] + "…",
            str(item["log_index"]),
        )
    console.print(receipts)
    per_call = summary.claim_gas_per_call
    console.print(
        f"{summary.calls} paid calls in {summary.seconds:.1f} s, settled by "
        f"{len(summary.services)} claim transactions: {per_call:,.0f} gas per call versus "
        f"{summary.transfer_gas:,} for one ALT transfer per call. One call of each service "
        "was proven from its receipt and the anchored log: "
        + ", ".join(
            f"{run.name} {'verified' if run.proof_verified else 'FAILED'} "
            f"(anchor block {run.proof_anchor_block})"
            for run in summary.services
        )
    )
