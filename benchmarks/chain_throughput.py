"""ERC-20 transfers per second and seconds per deploy, on three chains in one run.

Arms (all deploy and drive the platform's real ``ALTToken``, a snekmate ERC-20):

* ``embedded``: :class:`EmbeddedChain` persisting to SQLite in a temp dir (the
  default ``synchronous=NORMAL``: every transfer is committed before it returns),
  driven through the :class:`Contract` wrapper, one block per transfer.
* ``embedded_fsync``: the same with ``synchronous=FULL`` (an fsync per block).
* ``tester``: the baseline, web3.py's stock ``EthereumTesterProvider`` (eth-tester's
  PyEVMBackend, in memory), driven the stock way: ``contract.functions.transfer(...)
  .transact({"from": ...})`` then ``wait_for_transaction_receipt``.
* ``anvil``: :class:`RpcChain` against Foundry's anvil over JSON-RPC on loopback.

Every arm sends the same sequence: deploys, one mint, a short warm-up, then the
measured transfers, each waited for. Goal (issue 3): embedded >= 2x tester.
Run: ``python -m benchmarks chain_throughput``.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ailedger import contracts
from ailedger.core.chain import Contract, EmbeddedChain, RpcChain, deploy, dev_accounts
from ailedger.core.chain.anvil import find_anvil, run_anvil

TRANSFERS = int(os.environ.get("AILEDGER_BENCH_TRANSFERS", "500"))
DEPLOYS = 10
WARMUP = 20
GOAL_RATIO = 2.0
MINTED = 10**30


def _timed(action: Callable[[], Any], times: int) -> float:
    started = time.perf_counter()
    for _ in range(times):
        action()
    return time.perf_counter() - started


def _drive_wrapper(make_chain: Callable[[], Any]) -> dict[str, Any]:
    """Deploys and transfers through the platform's own Chain + Contract path."""
    artifact = contracts.load("ALTToken")
    owner, alice, bob = dev_accounts(3)
    chain = make_chain()
    try:
        deployed: list[Contract] = []
        deploy_seconds = _timed(
            lambda: deployed.append(deploy(chain, artifact.abi, artifact.bytecode, sender=owner)),
            DEPLOYS,
        )
        token = deployed[-1]
        token.mint(alice.address, MINTED, sender=owner)
        start_balance = token.balanceOf(bob.address)
        _timed(lambda: token.transfer(bob.address, 1, sender=alice), WARMUP)
        seconds = _timed(lambda: token.transfer(bob.address, 1, sender=alice), TRANSFERS)
        moved = token.balanceOf(bob.address) - start_balance
        if moved != TRANSFERS + WARMUP:  # the numbers only count if the work was done
            raise AssertionError(f"expected {TRANSFERS + WARMUP} tokens moved, got {moved}")
        return {
            "transfers": TRANSFERS,
            "transfer_seconds": round(seconds, 3),
            "transfers_per_second": round(TRANSFERS / seconds, 1),
            "deploys": DEPLOYS,
            "seconds_per_deploy": round(deploy_seconds / DEPLOYS, 4),
            "blocks": chain.block_number(),
        }
    finally:
        chain.close()


def _embedded(synchronous: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ailedger-bench-") as tmp:
        chain_dir = Path(tmp) / "chain"
        result = _drive_wrapper(lambda: EmbeddedChain(chain_dir, synchronous=synchronous))
        data_file = chain_dir / "chain.sqlite3"
        result["synchronous"] = synchronous
        result["persisted_bytes"] = data_file.stat().st_size + sum(
            p.stat().st_size for p in chain_dir.glob("chain.sqlite3-*")
        )
        with EmbeddedChain(chain_dir) as reopened:  # what was measured really is on disk
            result["reopened_at_block"] = reopened.block_number()
        return result


def _tester() -> dict[str, Any]:
    from web3 import EthereumTesterProvider, Web3

    artifact = contracts.load("ALTToken")
    w3 = Web3(EthereumTesterProvider())
    owner, alice, bob = w3.eth.accounts[:3]
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    addresses: list[str] = []

    def deploy_once() -> None:
        tx_hash = factory.constructor().transact({"from": owner})
        addresses.append(w3.eth.wait_for_transaction_receipt(tx_hash)["contractAddress"])

    deploy_seconds = _timed(deploy_once, DEPLOYS)
    token = w3.eth.contract(address=addresses[-1], abi=artifact.abi)
    w3.eth.wait_for_transaction_receipt(
        token.functions.mint(alice, MINTED).transact({"from": owner})
    )

    def transfer() -> None:
        tx_hash = token.functions.transfer(bob, 1).transact({"from": alice})
        w3.eth.wait_for_transaction_receipt(tx_hash)

    _timed(transfer, WARMUP)
    seconds = _timed(transfer, TRANSFERS)
    moved = token.functions.balanceOf(bob).call()
    if moved != TRANSFERS + WARMUP:
        raise AssertionError(f"expected {TRANSFERS + WARMUP} tokens moved, got {moved}")
    return {
        "transfers": TRANSFERS,
        "transfer_seconds": round(seconds, 3),
        "transfers_per_second": round(TRANSFERS / seconds, 1),
        "deploys": DEPLOYS,
        "seconds_per_deploy": round(deploy_seconds / DEPLOYS, 4),
        "persisted_bytes": 0,
    }


def _anvil() -> dict[str, Any]:
    if find_anvil() is None:
        return {"skipped": "anvil not installed; run scripts/ensure-system-deps.sh"}
    with run_anvil() as url:
        result = _drive_wrapper(lambda: RpcChain(url))
    result["anvil_version"] = version_of_anvil()
    return result


def version_of_anvil() -> str:
    import subprocess

    binary = find_anvil()
    if binary is None:
        return "missing"
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().splitlines()[0] if out.stdout else "unknown"


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "packages": {
            name: version(name)
            for name in ("py-evm", "eth-tester", "web3", "coincurve", "vyper", "eth-account")
        },
    }


def run() -> dict[str, Any]:
    """Measure every arm in this process, one after the other; return all numbers."""
    arms = {
        "embedded": lambda: _embedded("NORMAL"),
        "embedded_fsync": lambda: _embedded("FULL"),
        "tester": _tester,
        "anvil": _anvil,
    }
    results = {name: arm() for name, arm in arms.items()}
    tester_tps = results["tester"]["transfers_per_second"]
    ratios = {
        f"{name}_over_tester": round(results[name]["transfers_per_second"] / tester_tps, 2)
        for name in ("embedded", "embedded_fsync", "anvil")
        if "transfers_per_second" in results[name]
    }
    return {
        "unit": "ERC-20 transfers per second (each mined and waited for); seconds per deploy",
        "contract": "ALTToken",
        "transfers_measured_per_arm": TRANSFERS,
        "warmup_transfers": WARMUP,
        "arms": results,
        "ratios": ratios,
        "goal": {"embedded_over_tester_at_least": GOAL_RATIO},
        "goal_met": ratios.get("embedded_over_tester", 0) >= GOAL_RATIO,
        "machine": _machine(),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
