"""`ailedger market`: listings, pools, earnings, purchases; gate checks; jobs; withdrawals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.table import Table

from ailedger.cli.output import JSON_OPTION, make_console, print_json
from ailedger.config import Settings
from ailedger.errors import InvalidInputError, NotFoundError

console = make_console()
app = typer.Typer(help="The data marketplace: pools, sales, payouts, compute-to-data.")


@contextmanager
def _market() -> Iterator[tuple]:
    """The platform, market, catalog and ``market`` log, with the log caught up first.

    Every command starts by recording on the log any payment on chain it lacks (a run
    killed between a settlement and its record leaves such a gap).
    """
    from ailedger.market.catalog import open_catalog
    from ailedger.market.contract import open_market
    from ailedger.market.records import record_payments
    from ailedger.market.scenario import MARKET_LOG
    from ailedger.platform import Platform

    with Platform.open(Settings()) as platform:
        market = open_market(platform)
        catalog = open_catalog(platform.settings, platform.chain.chain_id, market.address)
        log = platform.open_log(MARKET_LOG)
        try:
            record_payments(market, catalog, log)
            yield platform, market, catalog, log
        finally:
            log.close()
            catalog.close()


def _keystore_account(platform, address: str, role: str):
    for info in platform.keystore.list():
        if info.address == address:
            return platform.account(info.name)
    raise NotFoundError(f"{role}: no keystore account holds {address}", field=role)


@app.command("listings")
def listings(as_json: bool = JSON_OPTION) -> None:
    """Every listing: price, pool, status and the anonymization gate's verdict."""
    from ailedger.market.views import listing_view

    with _market() as (_, market, catalog, _log):
        rows = [listing_view(item, catalog) for item in market.listings()]
    if as_json:
        print_json(rows)
        return
    table = Table(title="Listings")
    for column in ("#", "dataset", "pool", "access ALT", "job ALT", "status", "gate"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["listing_id"]),
            row["title"] or row["commitment"][:18],
            str(row["pool_id"] or "-"),
            f"{row['price_alt']:,.2f}",
            f"{row['compute_price_alt']:,.2f}" if row["compute_price_alt"] else "-",
            "active" if row["active"] else "delisted",
            row["gate"] or "-",
        )
    console.print(table)


@app.command("pools")
def pools(as_json: bool = JSON_OPTION) -> None:
    """Every pool: curator, contributors and revenue paid to them."""
    from dataclasses import asdict

    with _market() as (_, market, _catalog, _log):
        items = market.pools()
    if as_json:
        print_json([asdict(pool) for pool in items])
        return
    table = Table(title="Pools")
    for column in ("#", "curator", "contributors", "revenue ALT"):
        table.add_column(column)
    for pool in items:
        table.add_row(
            str(pool.pool_id), pool.curator, str(pool.contributors), f"{pool.revenue / 1e18:,.4f}"
        )
    console.print(table)


@app.command("earnings")
def earnings(
    pool_id: int = typer.Argument(..., min=1, help="The pool."), as_json: bool = JSON_OPTION
) -> None:
    """What every contributor of POOL_ID has earned (claimed plus pending)."""
    from ailedger.market.views import contributor_rows

    with _market() as (_, market, _catalog, _log):
        rows = contributor_rows(market, pool_id)
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Contributors of pool {pool_id}")
    for column in ("address", "records", "quality", "earned ALT"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["address"],
            str(row["records"]),
            f"{row['quality_bps'] / 100:.0f}%",
            f"{row['earned_alt']:,.6f}",
        )
    console.print(table)


@app.command("purchases")
def purchases(as_json: bool = JSON_OPTION) -> None:
    """Every purchase: buyer, kind, amount and escrow status."""
    from ailedger.market.views import purchase_view

    with _market() as (_, market, _catalog, _log):
        rows = [purchase_view(p) for p in market.purchases()]
    if as_json:
        print_json(rows)
        return
    table = Table(title="Purchases")
    for column in ("#", "listing", "buyer", "kind", "ALT", "status"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["purchase_id"]),
            str(row["listing_id"]),
            row["buyer"],
            row["kind"],
            f"{row['amount_alt']:,.2f}",
            row["status"],
        )
    console.print(table)


@app.command("check")
def check(
    csv_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The dataset (CSV)."),
    policy_file: Path = typer.Option(
        ...,
        "--policy",
        exists=True,
        dir_okay=False,
        help="Policy JSON file: which columns identify, generalize and protect (see below).",
    ),
) -> None:
    """Run the anonymization gate on CSV_FILE; exit status 1 (with the report) if it fails.

    The policy is a JSON object: "direct_identifiers" (columns dropped, e.g. ["name"]),
    "quasi_identifiers" (column: "keep", {"bands": [5, 10], "low": 40} for numbers cut
    into ranges of growing width, or {"prefix": [3, 1]} for codes cut to their first
    digits), "sensitive" (the column that must vary within each group), "k" (smallest
    group, default 5), "l" (distinct sensitive values per group, default 2) and
    "subject" (column naming the person, so k counts people, or null).

    Example: {"direct_identifiers": ["name"], "quasi_identifiers": {"age": {"bands": [5,
    10]}, "zip": {"prefix": [3]}, "sex": "keep"}, "sensitive": "diagnosis", "k": 5, "l": 2}.
    More in docs/anonymization-policy.md.
    """
    import pandas as pd

    from ailedger.market.anonymize import AnonymizationError, Prefix, anonymize, policy_from_dict

    try:
        spec = json.loads(policy_file.read_text())
    except json.JSONDecodeError as error:
        raise InvalidInputError(
            f"{policy_file}: is not JSON ({error.msg} at line {error.lineno})", field="policy"
        ) from None
    policy = policy_from_dict(spec)
    # Codes cut by prefix stay text: ZIP 02139 read as a number would lose its leading zero.
    codes = {name: str for name, h in policy.quasi_identifiers.items() if isinstance(h, Prefix)}
    try:
        frame = pd.read_csv(csv_file, dtype=codes)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InvalidInputError(
            f"{csv_file}: is not a CSV table ({reason})", field="csv_file"
        ) from None
    try:
        report = anonymize(frame, policy).report
    except AnonymizationError as refused:
        report = refused.report
    mark = "[green]PASSED[/]" if report.passed else "[bold red]REFUSED[/]"
    console.print(f"{mark} {report.summary()}", highlight=False)
    for group in (*report.too_small_groups, *report.not_diverse_groups):
        console.print(f"  group {group.describe()}", highlight=False)
    if not report.passed:
        raise typer.Exit(1)


@app.command("delist")
def delist(listing_id: int = typer.Argument(..., min=1)) -> None:
    """Take LISTING_ID off sale (signed by the seller's keystore account)."""
    _set_active(listing_id, False)


@app.command("relist")
def relist(listing_id: int = typer.Argument(..., min=1)) -> None:
    """Put LISTING_ID back on sale."""
    _set_active(listing_id, True)


def _set_active(listing_id: int, active: bool) -> None:
    with _market() as (platform, market, _catalog, _log):
        seller = _keystore_account(platform, market.listing(listing_id).seller, "seller")
        market.set_active(seller, listing_id, active)
    console.print(f"listing {listing_id} is {'active' if active else 'delisted'}")


@app.command("compute")
def compute(
    listing_id: int = typer.Argument(..., min=1),
    buyer: str = typer.Option(..., help="Keystore account that pays."),
    estimator: str = typer.Option(..., help="An allow-listed estimator."),
    target: str = typer.Option(..., help="The column to predict."),
    param: list[str] = typer.Option([], help="Hyper-parameter NAME=VALUE (repeatable)."),
    max_price: int | None = typer.Option(
        None, min=1, help="Most ALT wei to pay (default: the price read now)."
    ),
) -> None:
    """Pay for a compute-to-data job on LISTING_ID; print the model hash and metrics."""
    from ailedger.core.storage import open_blob_store
    from ailedger.market.compute import ComputeJob
    from ailedger.market.service import DataBuyer, DataSeller

    job = ComputeJob(estimator, target=target, params=_params(param))
    with _market() as (platform, market, catalog, log):
        store = open_blob_store(platform.settings)
        seller_account = _keystore_account(platform, market.listing(listing_id).seller, "seller")
        seller = DataSeller(market, seller_account, store, catalog, log)
        payer = DataBuyer(market, platform.account(buyer), store)
        # Refuse a job that cannot run (unknown target, too few rows) before paying.
        seller.check_job(listing_id, job)
        purchase_id = payer.order_compute(listing_id, max_price=max_price)
        delivery = seller.deliver_compute(purchase_id, job, payer.delivery_public_key(purchase_id))
        _, signature = payer.receive_model(purchase_id, delivery.model_hash or "")
        settlement = seller.settle(purchase_id, signature)
        log.close_batch()
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in (delivery.metrics or {}).items())
    console.print(
        f"job {purchase_id}: model {delivery.model_hash}; {metrics}; "
        f"logged at index {settlement.leaf_index}",
        highlight=False,
    )


def _params(pairs: list[str]) -> dict[str, float | int]:
    params: dict[str, float | int] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInputError(f"param: expected NAME=VALUE, got {pair!r}", field="param")
        try:
            number = float(value)
        except ValueError:
            raise InvalidInputError(
                f"param {name}: expected a number, got {value!r}", field="param"
            ) from None
        params[name] = int(number) if number.is_integer() and "." not in value else number
    return params


@app.command("reclaim")
def reclaim(
    purchase_id: int = typer.Argument(..., min=1),
    account: str = typer.Option(..., help="Keystore account that sends the transaction."),
) -> None:
    """Credit an undelivered PURCHASE_ID back to its buyer once its delivery deadline passed."""
    from ailedger.market.records import record_payments

    with _market() as (platform, market, catalog, log):
        amount = market.reclaim(platform.account(account), purchase_id)
        record_payments(market, catalog, log)
        buyer = market.purchase(purchase_id).buyer
    console.print(
        f"purchase {purchase_id}: {amount / 1e18:,.6f} ALT credited back to {buyer}; "
        "`ailedger market withdraw` sends it",
        highlight=False,
    )


@app.command("dispute")
def dispute(
    purchase_id: int = typer.Argument(..., min=1),
    buyer: str = typer.Option(..., help="Keystore account that paid."),
) -> None:
    """Prove on chain that the key delivered for PURCHASE_ID is wrong; the buyer is refunded."""
    from ailedger.core.storage import open_blob_store
    from ailedger.market.records import record_payments
    from ailedger.market.service import DataBuyer

    with _market() as (platform, market, catalog, log):
        payer = DataBuyer(market, platform.account(buyer), open_blob_store(platform.settings))
        amount = payer.dispute(purchase_id)
        record_payments(market, catalog, log)
    console.print(
        f"purchase {purchase_id}: the delivered key does not match its commitment; "
        f"{amount / 1e18:,.6f} ALT credited back to {payer.account.address}",
        highlight=False,
    )


@app.command("settle")
def settle(
    purchase_id: int = typer.Argument(..., min=1),
    account: str = typer.Option(..., help="Keystore account that sends the transaction."),
) -> None:
    """Pay out a delivered PURCHASE_ID once its dispute window has passed (anyone may)."""
    from ailedger.market.records import record_payments

    with _market() as (platform, market, catalog, log):
        market.settle(platform.account(account), purchase_id)
        index = record_payments(market, catalog, log).get(purchase_id)
    where = f"logged at index {index}" if index is not None else "not a listing of this data dir"
    console.print(f"purchase {purchase_id}: settled; {where}", highlight=False)


@app.command("withdraw")
def withdraw(
    account: str = typer.Option(..., help="Keystore account to pay out."),
    pool: int = typer.Option(0, min=0, help="Also claim this pool's earnings first."),
) -> None:
    """Send ACCOUNT's credited ALT (and, with --pool, its pool earnings) to its wallet."""
    with _market() as (platform, market, _catalog, _log):
        payee = platform.account(account)
        amount = market.claim_and_withdraw(payee, pool) if pool else market.withdraw(payee)
    console.print(f"withdrew {amount / 1e18:,.6f} ALT to {payee.address}", highlight=False)
