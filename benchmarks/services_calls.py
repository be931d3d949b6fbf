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
* http_pipelined: the deployed topology. The host is its own process, started as
  ``ailedger services serve`` starts it (uvicorn, ``create_host_app``); the client is
  this process, ``ServiceClient.call_batch`` over ``HttpTransport``, ``HTTP_CALLS``
  calls in batches of ``HTTP_BATCH`` (``POST /batch/lines``: each input's canonical
  JSON on its own line, hashed by the host as received). ``HTTP_LANES`` channels each carry their
  batches in order from their own thread, so the client signs and verifies one lane's
  batch while the host serves another's; every receipt and item is verified as in
  the other arms. The host claims every channel when it is stopped (SIGTERM), and the
  claimed amounts are checked. Consumer and service run side by side, so the rate is
  bounded by the slower of the two, not their sum; the CPU seconds each side used
  are recorded to show which one bounds it.
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

import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from ailedger.config import Settings
from ailedger.core.identity import canonical_json
from ailedger.platform import Platform
from ailedger.services import (
    HttpTransport,
    LocalTransport,
    ServiceClient,
    deploy_service_contracts,
    diagnosis_model,
)
from ailedger.services.runtime import (
    OWNER_KEY,
    open_consumer_records,
    open_host,
    publish_model,
)

CALLS_PER_CHANNEL = 1_000
CHANNELS = 2
BATCH_SIZES = (100, 1000)
BATCHED_CHANNELS = 10  # batches are fast: more of them, for a steadier timing
BASELINE_CALLS = 200
PRICE = 10**16
GOAL_THROUGHPUT = 100
GOAL_GAS = 500
HTTP_CALLS = 20_000
HTTP_BATCH = 1000
HTTP_LANES = 3  # channels with a batch in flight at once (each lane: one channel, in order)
HTTP_NAME = "diagnosis-http"
# The host process runs exactly what ``ailedger services serve`` runs.
HOURLY = ("--claim-interval", "3600")  # no claim rounds during the run; SIGTERM claims
SERVE = "import sys; from ailedger.cli.services import app; app(sys.argv[1:])"
RESULTS = Path(__file__).resolve().parent / "results" / "services_calls.json"


def run(
    calls_per_channel: int = CALLS_PER_CHANNEL,
    baseline_calls: int = BASELINE_CALLS,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    http_calls: int = HTTP_CALLS,
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
            # Set-up objects (chain, contracts, model) live to the end: keep the collector
            # from rescanning them during every arm, the baseline's included, as the
            # served host does (create_host_app).
            gc.collect()
            gc.freeze()
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
            if http_calls:
                arms["http_pipelined"] = _http_arm(
                    platform, contracts, owner, consumer, model, http_calls
                )

    for arm in arms.values():
        arm["throughput_ratio"] = round(arm["calls_per_second"] / baseline["calls_per_second"], 2)
        arm["throughput_goal_met"] = arm["throughput_ratio"] >= GOAL_THROUGHPUT
        if "claims" not in arm:
            continue
        steady_claim = arm["claims"][-1]
        claim_gas_per_call = steady_claim["gas"] / calls_per_channel
        life_gas_per_call = (arm["open_gas"] + steady_claim["gas"]) / calls_per_channel
        arm["claim_gas_per_call"] = round(claim_gas_per_call, 1)
        arm["channel_life_gas_per_call"] = round(life_gas_per_call, 1)
        arm["gas_ratio_claims"] = round(baseline["gas_per_call"] / claim_gas_per_call, 1)
        arm["gas_ratio_channel_life"] = round(baseline["gas_per_call"] / life_gas_per_call, 1)
        arm["gas_goal_met"] = arm["gas_ratio_claims"] >= GOAL_GAS
    return {
        "calls_per_channel": calls_per_channel,
        **arms,
        "baseline": baseline,
        "goal_throughput_ratio": GOAL_THROUGHPUT,
        "goal_gas_ratio": GOAL_GAS,
        "throughput_goal_met_by": [n for n, a in arms.items() if a["throughput_goal_met"]],
        "gas_goal_met_by": [n for n, a in arms.items() if a.get("gas_goal_met")],
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
        records=open_consumer_records(platform.settings, consumer.address),
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


def _http_arm(platform, contracts, owner, consumer, model, calls: int) -> dict[str, Any]:
    """The real topology: the host in its own process behind HTTP, the client here.

    ``HTTP_LANES`` channels each carry a sequence of batches (a channel's vouchers
    must arrive in nonce order); while the host serves one lane's batch, the client
    signs the next request of another lane or verifies a response it got.
    """
    port = _free_port()
    publish_model(
        platform,
        contracts,
        owner,
        model,
        price=PRICE,
        endpoint=f"http://127.0.0.1:{port}",
        name=HTTP_NAME,
    )
    settings = platform.settings
    env = {
        **os.environ,
        "AILEDGER_HOME": str(settings.home),
        "AILEDGER_KEYSTORE_SCRYPT_N": str(settings.keystore_scrypt_n),
        "AILEDGER_PASSWORD": settings.password,
    }
    assert OWNER_KEY == "model-owner"  # the key run() created, which serve unlocks
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", HTTP_NAME, "--port", str(port), *HOURLY],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_healthy(server, port)
        lanes = []
        records = open_consumer_records(settings, consumer.address)  # one file, every lane
        for _ in range(HTTP_LANES):
            client = ServiceClient(
                consumer,
                contracts.registry,
                contracts.channels,
                records=records,
                transport_for=lambda listing: HttpTransport(listing.endpoint),
            )
            listing = client.discover(HTTP_NAME)
            lanes.append((client, listing))
        examples = model.examples
        batches = [
            [examples[(start + i) % len(examples)] for i in range(min(HTTP_BATCH, calls - start))]
            for start in range(0, calls, HTTP_BATCH)
        ]
        work = [batches[lane :: len(lanes)] for lane in range(len(lanes))]
        lane_calls = [sum(map(len, mine)) + 1 for mine in work]  # + 1 warm-up call each
        channels = [
            client.open_channel(listing, count * listing.price)
            for (client, listing), count in zip(lanes, lane_calls, strict=True)
        ]
        # Warm up the connection and the host's channel cache outside the timing.
        for (client, listing), channel in zip(lanes, channels, strict=True):
            client.call_batch(listing, [examples[0]], channel=channel)

        def lane_run(lane: int) -> int:
            client, listing = lanes[lane]
            done = 0
            for batch in work[lane]:
                paid = client.call_batch(listing, batch, channel=channels[lane])
                done += len(paid)
            return done

        load_before = os.getloadavg()
        host_cpu, client_cpu = _cpu_seconds(server.pid), time.process_time()
        started = time.perf_counter()
        with ThreadPoolExecutor(len(lanes)) as pool:
            answered = sum(pool.map(lane_run, range(len(lanes))))
        seconds = time.perf_counter() - started
        host_cpu = _cpu_seconds(server.pid) - host_cpu
        client_cpu = time.process_time() - client_cpu
        load_after = os.getloadavg()
    finally:
        server.terminate()  # SIGTERM: uvicorn shuts down, the host claims every channel
        server.wait(timeout=120)
    claimed = [contracts.channels.get(channel.channel_id).claimed for channel in channels]
    expected = [count * PRICE for count in lane_calls]
    assert answered == calls, (answered, calls)
    assert claimed == expected, (claimed, expected)
    return {
        "calls": calls,
        "calls_per_request": HTTP_BATCH,
        "lanes": HTTP_LANES,
        "requests": len(batches),
        "seconds": round(seconds, 3),
        "calls_per_second": round(calls / seconds, 1),
        "claimed_at_shutdown": sum(claimed),
        # CPU seconds each side used during the timing (/proc): which side bounds the rate.
        "host_cpu_seconds": round(host_cpu, 3),
        "client_cpu_seconds": round(client_cpu, 3),
        "load_average_1m": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(server: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"services serve exited with {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("services serve did not answer /health within 120 s")


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
