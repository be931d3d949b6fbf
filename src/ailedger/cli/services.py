"""`ailedger services`: publish models as paid services, serve them, call them, get paid.

A model owner runs ``publish`` then ``serve``; a consumer runs ``call`` (which
opens or reuses a payment channel) and can ``verify`` a saved call proof; the
owner ``claim``\\s vouchers and ``withdraw``\\s ALT. ``records rebuild`` restores a
consumer's lost records from the chain and vouchers it signed. Keystore accounts default to
``model-owner`` (owner) and ``consumer``; ``--account`` picks another.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ailedger.cli.pins import LOG_ID_OPTION, OPERATOR_OPTION, REGISTRY_OPTION, TRUST_OPTION
from ailedger.config import Settings
from ailedger.errors import InvalidInputError

console = Console(soft_wrap=True)
app = typer.Typer(help="Models as paid services: registry, channels, calls.", no_args_is_help=True)

OWNER = "model-owner"
CONSUMER = "consumer"
ALT = 10**18


def parse_alt(text: str, field: str = "amount") -> int:
    """``"0.01"`` ALT as wei; errors name ``field``."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInputError(
            f"{field}: expected an ALT amount like 0.01, got {text!r}", field=field
        ) from None
    wei = value * ALT
    if not value.is_finite() or value <= 0 or wei != wei.to_integral_value():
        raise InvalidInputError(
            f"{field}: expected a positive ALT amount with at most 18 decimals, got {text!r}",
            field=field,
        )
    return int(wei)


def _alt(wei: int) -> str:
    return f"{Decimal(wei) / ALT:f}"


def _open(settings: Settings | None = None):
    from ailedger.platform import Platform

    return Platform.open(settings or Settings())


@app.command("list")
def list_services() -> None:
    """Every model in the registry: name, owner, price, endpoint, status."""
    from ailedger.services import service_contracts

    with _open() as platform:
        listings = service_contracts(platform).registry.all()
    table = Table(title="Model services")
    for column in ("name", "owner", "price (ALT)", "endpoint", "status", "model hash"):
        table.add_column(column)
    for listing in listings:
        table.add_row(
            listing.name,
            listing.owner,
            _alt(listing.price),
            listing.endpoint,
            "deprecated" if listing.deprecated else "active",
            "0x" + listing.model_hash.hex()[:16] + "…",
        )
    console.print(table)


@app.command("publish")
def publish(
    model: str = typer.Argument(..., help="Built-in model to train: diagnosis or credit."),
    price: str = typer.Option("0.01", help="ALT per call."),
    endpoint: str = typer.Option("http://127.0.0.1:8100", help="URL where it will be served."),
    name: str = typer.Option(None, help="Registry name (default: the model's name)."),
    account: str = typer.Option(OWNER, help="Keystore account of the owner."),
) -> None:
    """Train a built-in model, keep it in the data dir and register it as a paid service."""
    from ailedger.services import build_model, deploy_service_contracts
    from ailedger.services.runtime import publish_model

    wei = parse_alt(price, "price")
    trained = build_model(model)
    with _open() as platform:
        contracts = deploy_service_contracts(platform)
        owner = platform.account(account, create=platform.is_dev_chain, fund_wei=10**19)
        listing, new = publish_model(
            platform, contracts, owner, trained, price=wei, endpoint=endpoint, name=name
        )
    console.print(
        f"{'registered' if new else 'already registered'} {listing.name}: model "
        f"0x{listing.model_id.hex()}, {_alt(listing.price)} ALT per call at {listing.endpoint}",
        highlight=False,
    )


@app.command("serve")
def serve(
    name: str = typer.Argument(..., help="Registry name of one of your models."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8100, min=1, max=65535, help="TCP port."),
    account: str = typer.Option(OWNER, help="Keystore account of the owner."),
    claim_interval: float = typer.Option(30.0, min=0.1, help="Seconds between claim rounds."),
    batch_seconds: float = typer.Option(
        60.0, min=0.1, help="Anchor the call log at least this often (batch age limit)."
    ),
) -> None:
    """Serve a published model over HTTP; claims periodically and on shutdown."""
    import uvicorn

    from ailedger.core.log import BatchPolicy
    from ailedger.http import HttpPolicy
    from ailedger.services import service_contracts
    from ailedger.services.app import create_host_app
    from ailedger.services.runtime import open_host

    platform = _open()
    try:
        contracts = service_contracts(platform)
        owner = platform.account(account)
        service = open_host(
            platform, contracts, owner, name, batch=BatchPolicy(max_seconds=batch_seconds)
        )
        app_ = create_host_app(
            service,
            claim_interval=claim_interval,
            policy=HttpPolicy.from_settings(platform.settings),
        )
        console.print(
            f"serving {name} on http://{host}:{port} (receipts signed by {owner.address})"
        )
        uvicorn.run(app_, host=host, port=port, log_level="warning")
    finally:
        platform.close()


@app.command("call")
def call(
    name: str = typer.Argument(..., help="Registry name of the model."),
    owner: str = typer.Option(
        None, help="Address of the model's owner (needed when several own the name)."
    ),
    input_json: str = typer.Option(None, "--input", help="Input JSON object, or @file.json."),
    example: int = typer.Option(0, min=0, help="Use the model's Nth example input instead."),
    deposit: str = typer.Option("1", help="ALT to lock if a new channel is opened."),
    account: str = typer.Option(CONSUMER, help="Keystore account that pays."),
    save: Path = typer.Option(None, help="Write the call (receipt, salt, proof) as JSON here."),
    proof_wait: float = typer.Option(
        120.0, min=0, help="With --save: seconds to wait for the host to anchor the call."
    ),
) -> None:
    """Make one paid call over HTTP; prints the output and the verified receipt.

    What the call pays on top of comes from this account's own records in the data
    dir and the chain, never from the host; a bare NAME must resolve to the owner
    this account used it with before.
    """
    from ailedger.services import ServiceClient, service_contracts
    from ailedger.services.models import load_model
    from ailedger.services.runtime import models_dir, open_consumer_records

    with _open() as platform:
        contracts = service_contracts(platform)
        consumer = platform.account(account, create=platform.is_dev_chain, fund_wei=10**19)
        with open_consumer_records(platform.settings, consumer.address) as records:
            client = ServiceClient(
                consumer, contracts.registry, contracts.channels, records=records
            )
            listing = client.discover(name, owner)
            if input_json is not None:
                inputs = _read_json(input_json)
            else:
                inputs = load_model(models_dir(platform.settings), name).examples[example]
            paid = client.call(listing, inputs, deposit=parse_alt(deposit, "deposit"))
            document = paid.to_dict()
            if save is not None:
                document["proof"] = client.proof(listing, paid, wait=proof_wait)
                save.write_text(json.dumps(document, indent=2) + "\n")
    console.print_json(json.dumps(paid.output))
    console.print(
        f"paid {_alt(listing.price)} ALT on channel {paid.voucher.channel_id} (voucher "
        f"{paid.voucher.nonce}, {_alt(paid.voucher.amount)} ALT so far); receipt verified, "
        f"log index {paid.log_index}" + (f"; saved {save}" if save else ""),
        highlight=False,
    )


records_app = typer.Typer(help="A consumer's own records of vouchers signed.", no_args_is_help=True)
app.add_typer(records_app, name="records")


@records_app.command("rebuild")
def rebuild_records(
    saved: list[Path] = typer.Argument(None, help="Calls saved by `services call --save`."),
    account: str = typer.Option(CONSUMER, help="Keystore account whose records to rebuild."),
    ask_hosts: bool = typer.Option(
        True, help="Also take each host's copy of its latest voucher if it carries our signature."
    ),
) -> None:
    """Rebuild lost records from the chain, saved calls and vouchers we signed."""
    from ailedger.services import ServiceClient, service_contracts
    from ailedger.services.runtime import open_consumer_records

    documents = [_read_json("@" + str(path)) for path in saved or ()]
    with _open() as platform:
        contracts = service_contracts(platform)
        consumer = platform.account(account)
        with open_consumer_records(platform.settings, consumer.address) as records:
            client = ServiceClient(
                consumer, contracts.registry, contracts.channels, records=records
            )
            rebuilt = client.rebuild_records(documents, ask_hosts=ask_hosts)
    for channel_id, record in rebuilt.items():
        console.print(
            f"channel {channel_id}: signed up to voucher {record.signed_nonce}, "
            f"{_alt(record.accepted_amount)} ALT accepted",
            highlight=False,
        )
    console.print(f"rebuilt {len(rebuilt)} channel(s)", highlight=False)


@app.command("channels")
def channels(
    account: str = typer.Option(None, help="Only this keystore account's channels."),
) -> None:
    """Payment channels: deposit, claimed, expiry, per model."""
    from ailedger.services import service_contracts

    with _open() as platform:
        contracts = service_contracts(platform)
        consumer = platform.keystore.address(account) if account else None
        states = contracts.channels.opened(consumer=consumer)
        names = {entry.model_id: entry.name for entry in contracts.registry.all()}
    table = Table(title="Payment channels")
    for column in ("id", "model", "consumer", "deposit", "claimed", "expiry", "state"):
        table.add_column(column)
    for state in states:
        table.add_row(
            str(state.channel_id),
            names.get(state.model_id, "0x" + state.model_id.hex()[:8]),
            state.consumer,
            _alt(state.deposit),
            _alt(state.claimed),
            str(state.expiry),
            "reclaimed" if state.reclaimed else "open",
        )
    console.print(table)


@app.command("claim")
def claim(
    name: str = typer.Argument(..., help="Registry name of one of your models."),
    account: str = typer.Option(OWNER, help="Keystore account of the owner."),
) -> None:
    """Claim the latest stored voucher of every channel of NAME."""
    from ailedger.services import service_contracts
    from ailedger.services.runtime import open_host

    with _open() as platform:
        host = open_host(platform, service_contracts(platform), platform.account(account), name)
        try:
            results = host.claim_all()
        finally:
            host.close()
    total = sum(r.paid for r in results)
    console.print(f"{len(results)} claim(s), {_alt(total)} ALT credited", highlight=False)


@app.command("withdraw")
def withdraw(account: str = typer.Option(OWNER, help="Keystore account to pay out.")) -> None:
    """Move all ALT credited by claims or reclaims to the account."""
    from ailedger.services import service_contracts

    with _open() as platform:
        contracts = service_contracts(platform)
        amount = contracts.channels.withdraw(platform.account(account))
    console.print(f"withdrew {_alt(amount)} ALT", highlight=False)


@app.command("price")
def price(
    name: str = typer.Argument(...),
    new_price: str = typer.Argument(..., help="ALT per call."),
    account: str = typer.Option(OWNER, help="Keystore account of the owner."),
) -> None:
    """Change the price per call of one of your models."""
    from ailedger.services import service_contracts

    wei = parse_alt(new_price, "price")
    with _open() as platform:
        registry = service_contracts(platform).registry
        owner = platform.account(account)
        registry.update_price(owner, registry.model_id(owner.address, name), wei)
    console.print(f"{name}: {_alt(wei)} ALT per call", highlight=False)


@app.command("deprecate")
def deprecate(
    name: str = typer.Argument(...),
    account: str = typer.Option(OWNER, help="Keystore account of the owner."),
) -> None:
    """Retire one of your models for good (open channels can still be claimed)."""
    from ailedger.services import service_contracts

    with _open() as platform:
        registry = service_contracts(platform).registry
        owner = platform.account(account)
        registry.deprecate(owner, registry.model_id(owner.address, name))
    console.print(f"{name} is deprecated", highlight=False)


@app.command("verify")
def verify(
    call_file: Path = typer.Argument(..., help="A call saved by `services call --save`."),
    trust: Path | None = TRUST_OPTION,
    operator: str | None = OPERATOR_OPTION,
    registry: str | None = REGISTRY_OPTION,
    log_id: list[str] | None = LOG_ID_OPTION,
) -> None:
    """Prove a saved call from its receipt and the anchored log, using only the chain."""
    from ailedger.core.trust import describe_identity, load_pins
    from ailedger.services import CallReceipt, service_contracts, verify_call_proof

    pins = load_pins(trust, operator=operator, registry=registry, log_ids=log_id or ())
    document = _read_json("@" + str(call_file))
    if "proof" not in document:
        raise InvalidInputError(f"{call_file}: no proof; save calls with --save", field="proof")
    with _open() as platform:
        report = verify_call_proof(
            document["proof"],
            platform.chain,
            service_contracts(platform).registry,
            expected_receipt=CallReceipt.from_dict(document.get("receipt")),
            pins=pins,
        )
    console.print(
        f"verified: {report.model_name} call, voucher {report.receipt.nonce} on channel "
        f"{report.receipt.channel_id}, log index {report.log_index} of {report.tree_size}, "
        f"anchored in block {report.anchor_block} ({report.anchor_tx})",
        highlight=False,
    )
    assert report.identity is not None
    console.print(describe_identity(pins, report.identity), highlight=False)


def _read_json(text: str) -> dict:
    source = text
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            source = path.read_text()
        except OSError as error:
            raise InvalidInputError(
                f"input: cannot read {path}: {error.strerror}", field="input"
            ) from None
    try:
        value = json.loads(source)
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"input: not valid JSON ({error})", field="input") from None
    if not isinstance(value, dict):
        raise InvalidInputError("input: expected a JSON object", field="input")
    return value
