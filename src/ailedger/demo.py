"""The end-to-end demo (`ailedger demo`, `make demo`): every use case built so far.

Each use case is one step: a function taking the open platform and a console,
doing real work on the configured engines and printing a readable summary.
Running the demo twice reuses what the first run deployed.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from ailedger.config import Settings
from ailedger.platform import Platform

DEMO_PASSWORD = "ailedger-demo"
# Prefixed so the demo never touches keys a user made (`ailedger keys new alice`).
DEMO_PEOPLE = ("demo-alice", "demo-bob", "demo-carol")
MINT_PER_PERSON = 1_000 * 10**18
TRANSFER_AMOUNT = 125 * 10**18
PERSON_FUNDING_WEI = 10 * 10**18

Step = Callable[[Platform, Console], None]


def _progress(console: Console) -> Progress:
    # Piped into a file, a spinner would only leave frames behind.
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        console=console,
        disable=not console.is_terminal,
    )


def foundation_step(platform: Platform, console: Console) -> None:
    """Deploy (or reuse) the core contracts, mint ALT to named people, move some around."""
    with _progress(console) as progress:
        task = progress.add_task("deploying contracts", total=None)
        deployed = platform.deploy_core_contracts(
            lambda name: progress.update(task, description=f"deploying {name}")
        )
        progress.update(task, description="creating demo accounts")
        people = {
            name: platform.account(name, create=True, fund_wei=PERSON_FUNDING_WEI)
            for name in DEMO_PEOPLE
        }
        token = platform.contract("ALTToken")
        for name, account in people.items():
            progress.update(task, description=f"minting ALT to {name}")
            token.mint(account.address, MINT_PER_PERSON, sender=platform.operator)
        alice, bob, carol = (people[name] for name in DEMO_PEOPLE)
        progress.update(task, description="demo-alice pays demo-bob")
        token.transfer(bob.address, TRANSFER_AMOUNT, sender=alice)
        progress.update(task, description="demo-bob pays demo-carol")
        token.transfer(carol.address, TRANSFER_AMOUNT // 5, sender=bob)

    contracts_table = Table(title="Core contracts")
    contracts_table.add_column("contract")
    contracts_table.add_column("address")
    contracts_table.add_column("this run")
    for item in deployed:
        contracts_table.add_row(item.name, item.address, "reused" if item.reused else "deployed")
    console.print(contracts_table)

    balances = Table(title=f"ALT balances (supply {token.totalSupply() / 10**18:,.2f} ALT)")
    balances.add_column("account")
    balances.add_column("address")
    balances.add_column("ALT", justify="right")
    for name, account in people.items():
        balances.add_row(name, account.address, f"{token.balanceOf(account.address) / 10**18:,.2f}")
    console.print(balances)


def audit_step(platform: Platform, console: Console) -> None:
    """Credit decisions on the German credit data: scored, explained, logged, anchored."""
    from ailedger.audit import run_credit_scenario

    with _progress(console) as progress:
        task = progress.add_task("opening the decision log", total=None)
        log = platform.open_log("decisions")
        try:
            summary = run_credit_scenario(
                platform.settings,
                platform.chain,
                log,
                n_applications=300,
                progress=lambda message: progress.update(task, description=message),
                operator=platform.operator,
            )
        finally:
            log.close()

    card = Table(title=f"Model card: {summary.model_name}", show_header=False)
    card.add_row("model id", summary.model_id)
    card.add_row("10-fold CV ROC AUC", f"{summary.cv_auc_mean:.3f} ± {summary.cv_auc_std:.3f}")
    for group in summary.fairness:
        card.add_row(
            f"fairness across {group.attribute}",
            f"demographic parity diff {group.demographic_parity_difference:.3f}, "
            f"equalized odds diff {group.equalized_odds_difference:.3f}",
        )
    console.print(card)

    batch = Table(title="Decisions logged and anchored", show_header=False)
    batch.add_row("decisions", f"{summary.decisions} ({summary.approved} approved)")
    batch.add_row("log size / root", f"{summary.tree_size} / {summary.root_hash}")
    batch.add_row(
        "anchor transaction",
        f"{summary.anchor_tx} (block {summary.anchor_block}, {summary.anchor_gas:,} gas "
        f"= {summary.anchor_gas / summary.decisions:,.0f} gas per decision)",
    )
    batch.add_row(
        "example decision",
        f"{summary.example_decision_id}: top reasons {', '.join(summary.example_top_features)}",
    )
    batch.add_row(
        "verified by a stranger",
        "[green]yes[/]" if summary.example_verified else "[red]NO[/]",
    )
    console.print(batch)
    console.print(
        f"Prove it yourself: ailedger audit proof {summary.example_decision_id} -o proof.json "
        "&& ailedger audit verify proof.json"
    )


def market_step(platform: Platform, console: Console) -> None:
    """Patients pool anonymized data; every sale and compute job pays each of them."""
    from ailedger.market.demo import run_market_scenario

    run_market_scenario(platform, console)


def services_step(platform: Platform, console: Console) -> None:
    """Two models sold per call through payment channels, claimed on chain once."""
    from ailedger.services import run_services_scenario

    run_services_scenario(platform, console)


def iot_step(platform: Platform, console: Console) -> None:
    """A cold-chain fleet signs readings; ingestion refuses every forgery and replay."""
    from ailedger.iot.demo import run_iot_scenario

    run_iot_scenario(platform, console)


def federated_step(platform: Platform, console: Console) -> None:
    """Hospitals train together on Flower; each is scored and paid in ALT for its contribution."""
    from ailedger.federated.demo import run_federated_scenario

    run_federated_scenario(platform, console)


STEPS: tuple[tuple[str, Step], ...] = (
    ("Foundation: chain, keys, ALT token", foundation_step),
    ("Auditable AI: credit decisions on a verifiable log", audit_step),
    ("Data marketplace: patients paid for every use of their data", market_step),
    ("Tokenized AI services: paid calls through payment channels", services_step),
    ("Secure IoT: signed device readings, edge AI, replay-proof ingestion", iot_step),
    ("Federated learning: hospitals scored and paid for what they contributed", federated_step),
)


def _record_store(settings: Settings) -> str:
    if settings.database_url:
        return "PostgreSQL " + settings.database_url.split("@")[-1]  # never the password
    return f"SQLite ({settings.home / 'logs'})"


def run_demo(settings: Settings, console: Console | None = None) -> None:
    """Run every demo step against the data dir and engines ``settings`` names."""
    console = console or Console()
    if settings.password is None:
        settings = settings.model_copy(update={"password": DEMO_PASSWORD})
        console.print(
            f"[yellow]AILEDGER_PASSWORD is unset: the demo keystore uses the password "
            f"'{DEMO_PASSWORD}'. Set it for anything but a demo.[/]"
        )
    with Platform.open(settings) as platform:
        console.rule(
            f"ailedger demo: chain {platform.chain.description}; records {_record_store(settings)}"
        )
        for title, step in STEPS:
            console.rule(title)
            step(platform, console)
        status = platform.status()
        console.rule("Done")
        console.print(
            f"chain {status.chain_id}, head block {status.head_block}; "
            f"data dir {settings.home}. Run it again to see the contracts reused."
        )
