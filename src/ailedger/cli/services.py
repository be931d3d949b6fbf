"""`ailedger services`: publish models as paid services, serve them, call them, get paid.

A model owner runs ``publish`` then ``serve``; a consumer runs ``call`` (which
opens or reuses a payment channel) and can ``verify`` a saved call proof; the
owner ``claim``\\s vouchers and ``withdraw``\\s ALT. ``call`` checks that the service
answers, and what it would lock, before anything is paid. ``records rebuild`` restores a
consumer's lost records from the chain and vouchers it signed. Keystore accounts default to
``model-owner`` (owner) and ``consumer``; ``--account`` picks another.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

import typer

from ailedger.cli.output import JSON_OPTION, make_console, print_rows
from ailedger.cli.pins import LOG_ID_OPTION, OPERATOR_OPTION, REGISTRY_OPTION, TRUST_OPTION
from ailedger.config import Settings
from ailedger.core.storage.locks import exclusive_lock
from ailedger.errors import AILedgerError, InvalidInputError, NotFoundError

console = make_console()
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
def list_services(as_json: bool = JSON_OPTION) -> None:
    """Every model in the registry: name, owner, price, endpoint, status."""
    from ailedger.services import service_contracts

    with _open() as platform:
        listings = service_contracts(platform).registry.all()
    rows = [
        {
            "name": listing.name,
            "owner": listing.owner,
            "price_alt": _alt(listing.price),
            "endpoint": listing.endpoint,
            "status": "deprecated" if listing.deprecated else "active",
            "model_hash": "0x" + listing.model_hash.hex(),
        }
        for listing in listings
    ]
    print_rows(console, rows, title="Model services", as_json=as_json)


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
    check_endpoint(endpoint)
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
    port: int = typer.Option(
        None, min=1, max=65535, help="TCP port (default: the port of the registered endpoint)."
    ),
    account: str = typer.Option(OWNER, help="Keystore account of the owner."),
    claim_interval: float = typer.Option(30.0, min=0.1, help="Seconds between claim rounds."),
    batch_seconds: float = typer.Option(
        60.0, min=0.1, help="Anchor the call log at least this often (batch age limit)."
    ),
) -> None:
    """Serve a published model over HTTP; prints each call and claim, claims on shutdown."""
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
        port = port or endpoint_port(service.listing.endpoint)
        _narrate(service)
        app_ = create_host_app(
            service,
            claim_interval=claim_interval,
            policy=HttpPolicy.from_settings(platform.settings),
        )
        console.print(
            f"serving {name} on http://{host}:{port} (registered endpoint "
            f"{service.listing.endpoint}; receipts signed by {owner.address})",
            highlight=False,
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

    Before any channel is opened it checks that the service answers at its endpoint
    and that the deposit covers one call. Calls by one account run one at a time.
    """
    from ailedger.services import ServiceClient, service_contracts
    from ailedger.services.models import load_model
    from ailedger.services.runtime import models_dir, open_consumer_records

    deposit_wei = parse_alt(deposit, "deposit")
    with _open() as platform:
        contracts = service_contracts(platform)
        with _account_lock(platform.settings, account):
            # One at a time per account: the permit nonce and the voucher nonce must not race.
            consumer = platform.account(account, create=platform.is_dev_chain, fund_wei=10**19)
            with open_consumer_records(platform.settings, consumer.address) as records:
                client = ServiceClient(
                    consumer, contracts.registry, contracts.channels, records=records
                )
                listing = client.discover(name, owner)
                if deposit_wei < listing.price:
                    raise InvalidInputError(
                        f"deposit: {_alt(deposit_wei)} ALT does not cover one call of {name} "
                        f"at {_alt(listing.price)} ALT; use --deposit {_alt(listing.price)} "
                        "or more",
                        field="deposit",
                    )
                if input_json is not None:
                    inputs = _read_json(input_json)
                else:
                    examples = load_model(models_dir(platform.settings), name).examples
                    inputs = _example(examples, example)
                check_answers(listing)
                paid = client.call(listing, inputs, deposit=deposit_wei)
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
    as_json: bool = JSON_OPTION,
) -> None:
    """Payment channels: deposit, claimed, expiry, per model."""
    from ailedger.services import service_contracts

    with _open() as platform:
        contracts = service_contracts(platform)
        consumer = platform.keystore.address(account) if account else None
        states = contracts.channels.opened(consumer=consumer)
        names = {entry.model_id: entry.name for entry in contracts.registry.all()}
    rows = [
        {
            "id": state.channel_id,
            "model": names.get(state.model_id, "0x" + state.model_id.hex()),
            "consumer": state.consumer,
            "deposit_alt": _alt(state.deposit),
            "claimed_alt": _alt(state.claimed),
            "expiry": datetime.fromtimestamp(state.expiry, UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "state": "reclaimed" if state.reclaimed else "open",
        }
        for state in states
    ]
    print_rows(console, rows, title="Payment channels", as_json=as_json)


@app.command("top-up")
def top_up(
    name: str = typer.Argument(..., help="Registry name of the model."),
    amount: str = typer.Option(..., help="ALT to add to the deposit."),
    account: str = typer.Option(CONSUMER, help="Keystore account that pays."),
) -> None:
    """Add ALT to your newest open channel of NAME, so more calls fit in it."""
    from ailedger.services import service_contracts

    wei = parse_alt(amount, "amount")
    with _open() as platform, _account_lock(platform.settings, account):
        contracts = service_contracts(platform)
        listing = contracts.registry.find(name)
        consumer = platform.account(account)
        opened = [
            state
            for state in contracts.channels.opened(
                consumer=consumer.address, model_id=listing.model_id
            )
            if not state.reclaimed
        ]
        if not opened:
            raise NotFoundError(
                f"{account} has no open channel of {name}; `ailedger services call {name} "
                f"--account {account}` opens one",
                field="name",
            )
        balance = contracts.token.balanceOf(consumer.address)
        if balance < wei:
            raise InvalidInputError(
                f"amount: {account} holds {_alt(balance)} ALT, less than the {_alt(wei)} ALT "
                "to add; send it ALT first",
                field="amount",
            )
        state = contracts.channels.top_up(consumer, opened[-1].channel_id, wei)
    console.print(
        f"channel {state.channel_id}: deposit now {_alt(state.deposit)} ALT "
        f"({_alt(state.claimed)} claimed)",
        highlight=False,
    )


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
    except (json.JSONDecodeError, RecursionError) as error:  # too deep: RecursionError
        raise InvalidInputError(f"input: not valid JSON ({error})", field="input") from None
    if not isinstance(value, dict):
        raise InvalidInputError("input: expected a JSON object", field="input")
    return value


def check_endpoint(endpoint: str) -> str:
    """``endpoint`` if it is an http(s) URL with a host, else :class:`InvalidInputError`."""
    parts = urlsplit(endpoint)
    try:
        _ = parts.port  # raises for a port that is not a number from 0 to 65535
        url = parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in endpoint
    except ValueError:
        url = False
    if not url:
        raise InvalidInputError(
            f"endpoint: expected an http:// or https:// URL such as http://127.0.0.1:8100, "
            f"got {endpoint!r}",
            field="endpoint",
        )
    return endpoint


def endpoint_port(endpoint: str) -> int:
    """The TCP port of an http(s) ``endpoint`` (80/443 when it names none)."""
    parts = urlsplit(check_endpoint(endpoint))
    return parts.port or (443 if parts.scheme == "https" else 80)


def check_answers(listing) -> None:
    """Raise unless the service of ``listing`` answers ``/health`` as that model.

    Runs before a channel is opened, so a service that is down costs nothing.
    """
    import httpx

    endpoint = check_endpoint(listing.endpoint)
    try:
        answer = httpx.get(endpoint.rstrip("/") + "/health", timeout=5)
        model = answer.json().get("model") if answer.status_code == 200 else None
        problem = None if model == listing.name else f"it answered as {model or answer.status_code}"
    except httpx.HTTPError as error:
        problem = str(error) or type(error).__name__
    except ValueError:
        problem = "its /health is not JSON"
    if problem is not None:
        raise AILedgerError(
            f"{listing.name} does not answer at {endpoint} ({problem}); nothing was paid. "
            f"Its owner serves it with `ailedger services serve {listing.name}` "
            f"(port {endpoint_port(endpoint)})",
            field="endpoint",
        )


@contextmanager
def _account_lock(settings: Settings, account: str) -> Iterator[None]:
    # An OS file lock: released even if the process dies.
    directory = settings.ensure_home() / "locks"
    directory.mkdir(exist_ok=True)
    with exclusive_lock(directory / f"account-{account}.lock"):
        yield


def _example(examples: list, index: int) -> dict:
    if index >= len(examples):
        raise InvalidInputError(
            f"example: the model has {len(examples)} examples (0 to {len(examples) - 1}), "
            f"got {index}",
            field="example",
        )
    return examples[index]


def _narrate(service) -> None:
    """Make ``service`` print each call it answers and each claim it makes."""
    answer_call, answer_batch, answer_lines = (
        service.handle,
        service.handle_batch,
        service.handle_batch_lines,
    )
    claim_due, claim_all = service.claim_due, service.claim_all

    def said(answer: dict, calls: int) -> dict:
        receipt = answer.get("receipt", {})
        console.print(
            f"{datetime.now(UTC):%H:%M:%S} {calls} call(s) on channel "
            f"{receipt.get('channel_id')}: voucher {receipt.get('nonce')}, "
            f"{_alt(int(receipt.get('amount', 0)))} ALT so far",
            highlight=False,
        )
        return answer

    def claimed(results: list) -> list:
        for result in results:
            console.print(
                f"{datetime.now(UTC):%H:%M:%S} claimed {_alt(result.paid)} ALT", highlight=False
            )
        return results

    service.handle = lambda request: said(answer_call(request), 1)
    service.handle_batch = lambda request: said(
        answer_batch(request), len(request.get("inputs", []))
    )
    service.handle_batch_lines = lambda body: said(answer_lines(body), body.count(b"\n"))
    service.claim_due = lambda: claimed(claim_due())
    service.claim_all = lambda: claimed(claim_all())
