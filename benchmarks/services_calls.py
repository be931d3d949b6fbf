"""Paid model calls: payment channels with vouchers versus one ALT transfer per call.

Both arms run on the same embedded chain, serve the same diagnosis model (logistic
regression on the breast-cancer data) and append every call to a transparency log:

* channels: ``CALLS_PER_CHANNEL`` calls per channel through ``ServiceClient`` and an
  in-process ``ServiceHost``. Each call is end to end: the consumer signs a voucher,
  the host verifies it off chain, runs the model, signs a receipt, stores the voucher
  durably (SQLite, ``synchronous=FULL``) and appends the call to the log; the client
  checks the receipt and the log leaf. Then the service claims the channel once. Two
  channels run, so the second claim shows the steady state (the first one also
  creates the service's credit slot in the contract, 20,000 gas more).
* baseline: every call is paid by its own ``ALTToken.transfer`` transaction, then
  the model runs and the call is logged (``BASELINE_CALLS`` calls; every transfer
  costs the same gas and time, so a sample suffices).

Goal (issue 6): at least 100x the throughput and at least 500x less gas per call.
Gas per call of the channels is reported two ways: claims only (the recurring cost,
what the goal compares) and the channel's whole life (open + claim).
Run: ``python -m benchmarks.services_calls`` (writes ``results/services_calls.json``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ailedger.config import Settings
from ailedger.core.identity import canonical_json
from ailedger.platform import Platform
from ailedger.services import (
    LocalTransport,
    ServiceClient,
    deploy_service_contracts,
    diagnosis_model,
)
from ailedger.services.runtime import open_host, publish_model

CALLS_PER_CHANNEL = 1_000
CHANNELS = 2
BASELINE_CALLS = 200
PRICE = 10**16
GOAL_THROUGHPUT = 100
GOAL_GAS = 500
RESULTS = Path(__file__).resolve().parent / "results" / "services_calls.json"


def run(calls_per_channel: int = CALLS_PER_CHANNEL, baseline_calls: int = BASELINE_CALLS) -> dict:
    """Measure both arms; return throughput and gas per call of each and their ratios."""
    model = diagnosis_model()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home", keystore_scrypt_n=2**4, password="bench")
        with Platform.open(settings) as platform:
            contracts = deploy_service_contracts(platform)
            owner = platform.account("model-owner", create=True, fund_wei=10**20)
            consumer = platform.account("consumer", create=True, fund_wei=10**20)
            contracts.token.mint(consumer.address, 10**24, sender=platform.operator)
            publish_model(
                platform, contracts, owner, model, price=PRICE, endpoint="http://127.0.0.1:8100"
            )
            host = open_host(platform, contracts, owner, "diagnosis", model=model)
            try:
                channels = _channels_arm(platform, contracts, consumer, host, calls_per_channel)
                baseline = _baseline_arm(platform, contracts, consumer, owner, host, baseline_calls)
            finally:
                host.close()

    steady_claim = channels["claims"][-1]
    claim_gas_per_call = steady_claim["gas"] / calls_per_channel
    life_gas_per_call = (channels["open_gas"] + steady_claim["gas"]) / calls_per_channel
    throughput_ratio = channels["calls_per_second"] / baseline["calls_per_second"]
    gas_ratio = baseline["gas_per_call"] / claim_gas_per_call
    return {
        "calls_per_channel": calls_per_channel,
        "channels": channels,
        "baseline": baseline,
        "claim_gas_per_call": round(claim_gas_per_call, 1),
        "channel_life_gas_per_call": round(life_gas_per_call, 1),
        "throughput_ratio": round(throughput_ratio, 2),
        "gas_ratio_claims": round(gas_ratio, 1),
        "gas_ratio_channel_life": round(baseline["gas_per_call"] / life_gas_per_call, 1),
        "goal_throughput_ratio": GOAL_THROUGHPUT,
        "goal_gas_ratio": GOAL_GAS,
        "throughput_goal_met": throughput_ratio >= GOAL_THROUGHPUT,
        "gas_goal_met": gas_ratio >= GOAL_GAS,
        "cpu_count": os.cpu_count(),
    }


def _channels_arm(platform, contracts, consumer, host, calls: int) -> dict[str, Any]:
    client = ServiceClient(
        consumer,
        contracts.registry,
        contracts.channels,
        transport_for=lambda _listing: LocalTransport(host),
    )
    listing = client.discover("diagnosis")
    examples = host.model.examples
    seconds, claims, open_gas = 0.0, [], 0
    for _ in range(CHANNELS):
        channel = client.open_channel(listing, calls * listing.price)
        opened = contracts.channels.contract.get_events("ChannelOpened")[-1]
        open_gas = platform.chain.wait_for_receipt(opened.log.tx_hash).gas_used
        started = time.perf_counter()
        for i in range(calls):
            client.call(listing, examples[i % len(examples)], channel=channel)
        seconds += time.perf_counter() - started
        (claim,) = host.claim_all()
        claims.append({"paid": claim.paid, "gas": claim.receipt.gas_used})
    total = calls * CHANNELS
    return {
        "calls": total,
        "seconds": round(seconds, 3),
        "calls_per_second": round(total / seconds, 1),
        "open_gas": open_gas,
        "claims": claims,
    }


def _baseline_arm(platform, contracts, consumer, owner, host, calls: int) -> dict[str, Any]:
    token, log, model = contracts.token, host.log, host.model
    examples = model.examples
    gas = []
    started = time.perf_counter()
    for i in range(calls):
        receipt = token.transfer(owner.address, PRICE, sender=consumer)
        output = model.predict(examples[i % len(examples)])
        log.append(canonical_json({"tx": "0x" + receipt.tx_hash.hex(), "output": output}))
        gas.append(receipt.gas_used)
    seconds = time.perf_counter() - started
    return {
        "calls": calls,
        "seconds": round(seconds, 3),
        "calls_per_second": round(calls / seconds, 1),
        "gas_per_call": round(sum(gas) / len(gas), 1),
    }


if __name__ == "__main__":
    result = run()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
