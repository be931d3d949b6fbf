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
DEMO_PEOPLE = ("alice", "bob", "carol")
MINT_PER_PERSON = 1_000 * 10**18
TRANSFER_AMOUNT = 125 * 10**18
PERSON_FUNDING_WEI = 10 * 10**18

Step = Callable[[Platform, Console], None]


def _progress(console: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console)


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
        progress.update(task, description="alice pays bob")
        token.transfer(people["bob"].address, TRANSFER_AMOUNT, sender=people["alice"])
        progress.update(task, description="bob pays carol")
        token.transfer(people["carol"].address, TRANSFER_AMOUNT // 5, sender=people["bob"])

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


STEPS: tuple[tuple[str, Step], ...] = (("Foundation: chain, keys, ALT token", foundation_step),)


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
        console.rule(f"ailedger demo on {platform.chain.description}")
        for title, step in STEPS:
            console.rule(title)
            step(platform, console)
        status = platform.status()
        console.rule("Done")
        console.print(
            f"chain {status.chain_id}, head block {status.head_block}; "
            f"data dir {settings.home}. Run it again to see the contracts reused."
        )
