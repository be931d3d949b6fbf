"""Paid model calls: payment channels with vouchers versus one ALT transfer per call.

Both arms run on the same embedded chain, serve the same diagnosis model (logistic
regression on the breast-cancer data) and append every call to a transparency log:

* single: ``CALLS_PER_CHANNEL`` calls per channel through ``ServiceClient`` and an
  in-process ``ServiceHost``, one request per call. Each call is end to end: the
  consumer signs a voucher, the host verifies it off chain, runs the model, signs a
  receipt, stores the voucher and appends the call to the log (durable: fsync); the
  client checks the receipt and the log leaf. Then the service claims the channel
  once. Two channels run, so the second claim shows the steady state (the first one
  also creates the service's credit slot in the contract, 20,000 gas more).
* batch_100, batch_1000: the same, that many calls per request
  (``ServiceClient.call_batch``): one voucher, one model run over all rows, one
  receipt over the Merkle root of the calls' hashes, one log transaction of one
  record per call; the client checks the receipt, every item's hashes and every
  record's leaf.
* baseline: every call is paid by its own ``ALTToken.transfer`` transaction, then
  the model runs and the call is logged (``BASELINE_CALLS`` calls; every transfer
  costs the same gas and time, so a sample suffices).

The host runs as ``ailedger services serve`` does (``open_host``: the voucher store
without fsync, the log with it). Goal (issue 6): at least 100x the throughput and at
least 500x less gas per call; each arm says whether it meets each goal, and
``throughput_goal_met_by`` lists the arms that do. The machine's load average is
recorded: other processes share its cores and its disk, and fsync times vary.
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
BATCH_SIZES = (100, 1000)
BATCHED_CHANNELS = 10  # batches are fast: more of them, for a steadier timing
BASELINE_CALLS = 200
PRICE = 10**16
GOAL_THROUGHPUT = 100
GOAL_GAS = 500
RESULTS = Path(__file__).resolve().parent / "results" / "services_calls.json"


def run(
    calls_per_channel: int = CALLS_PER_CHANNEL,
    baseline_calls: int = BASELINE_CALLS,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
) -> dict:
    """Measure every arm; return throughput and gas per call of each and their ratios."""
    model = diagnosis_model()
    load_before = os.getloadavg()
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
                arms = {
                    "single": _channels_arm(
                        platform, contracts, consumer, host, calls_per_channel, 1
                    )
                }
                for size in batch_sizes:
                    arms[f"batch_{size}"] = _channels_arm(
                        platform, contracts, consumer, host, calls_per_channel, size
                    )
                baseline = _baseline_arm(platform, contracts, consumer, owner, host, baseline_calls)
            finally:
                host.close()

    for arm in arms.values():
        steady_claim = arm["claims"][-1]
        claim_gas_per_call = steady_claim["gas"] / calls_per_channel
        life_gas_per_call = (arm["open_gas"] + steady_claim["gas"]) / calls_per_channel
        ratio = arm["calls_per_second"] / baseline["calls_per_second"]
        arm["claim_gas_per_call"] = round(claim_gas_per_call, 1)
        arm["channel_life_gas_per_call"] = round(life_gas_per_call, 1)
        arm["gas_ratio_claims"] = round(baseline["gas_per_call"] / claim_gas_per_call, 1)
        arm["gas_ratio_channel_life"] = round(baseline["gas_per_call"] / life_gas_per_call, 1)
        arm["throughput_ratio"] = round(ratio, 2)
        arm["throughput_goal_met"] = ratio >= GOAL_THROUGHPUT
        arm["gas_goal_met"] = arm["gas_ratio_claims"] >= GOAL_GAS
    return {
        "calls_per_channel": calls_per_channel,
        **arms,
        "baseline": baseline,
        "goal_throughput_ratio": GOAL_THROUGHPUT,
        "goal_gas_ratio": GOAL_GAS,
        "throughput_goal_met_by": [n for n, a in arms.items() if a["throughput_goal_met"]],
        "gas_goal_met_by": [n for n, a in arms.items() if a["gas_goal_met"]],
        "cpu_count": os.cpu_count(),
        "load_average_1m": {
            "before": round(load_before[0], 2),
            "after": round(os.getloadavg()[0], 2),
        },
    }


def _channels_arm(platform, contracts, consumer, host, calls: int, batch_size: int) -> dict:
    client = ServiceClient(
        consumer,
        contracts.registry,
        contracts.channels,
        transport_for=lambda _listing: LocalTransport(host),
    )
    listing = client.discover("diagnosis")
    examples = host.model.examples
    batches = [
        [examples[(start + i) % len(examples)] for i in range(min(batch_size, calls - start))]
        for start in range(0, calls, batch_size)
    ]
    seconds, claims, open_gas = 0.0, [], 0
    channels = CHANNELS if batch_size == 1 else BATCHED_CHANNELS
    for _ in range(channels):
        channel = client.open_channel(listing, calls * listing.price)
        opened = contracts.channels.contract.get_events("ChannelOpened")[-1]
        open_gas = platform.chain.wait_for_receipt(opened.log.tx_hash).gas_used
        started = time.perf_counter()
        if batch_size == 1:
            for i in range(calls):
                client.call(listing, examples[i % len(examples)], channel=channel)
        else:
            for batch in batches:
                client.call_batch(listing, batch, channel=channel)
        seconds += time.perf_counter() - started
        (claim,) = host.claim_all()
        claims.append({"paid": claim.paid, "gas": claim.receipt.gas_used})
    total = calls * channels
    return {
        "calls": total,
        "calls_per_request": batch_size,
        "requests": len(batches) * channels,
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
