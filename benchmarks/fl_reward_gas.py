"""RewardPool gas: posting one round's root for 8 and 1,000 clients, and a claim at each size.

On one ``EmbeddedChain`` (py-evm, Prague rules): every number is the ``gasUsed``
of a real receipt. Per size, a fresh job is funded and one round posted (the
job's first post, so both sizes write the same fresh slots), then one client
claims with its proof (``ceil(log2 n)`` hashes).

Goal (issue 15): posting gas constant within 5% from 8 to 1,000 clients.
Run: ``python -m benchmarks fl_reward_gas``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from eth_account import Account

from ailedger import contracts
from ailedger.core.chain import EmbeddedChain, deploy, dev_accounts
from ailedger.federated.rewards import RewardPool, RewardTree, allocate

SIZES = (8, 1_000)
ALT = 10**18
BUDGET = 1_000 * ALT
GOAL_SPREAD = 0.05


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        chain = EmbeddedChain(Path(tmp) / "chain")
        try:
            return _measure(chain)
        finally:
            chain.close()


def _measure(chain: EmbeddedChain) -> dict[str, Any]:
    funder, server, gas_payer = dev_accounts(3)
    token_artifact = contracts.load("ALTToken")
    token = deploy(chain, token_artifact.abi, token_artifact.bytecode, sender=funder)
    artifact = contracts.load("RewardPool")
    pool = RewardPool(
        deploy(chain, artifact.abi, artifact.bytecode, token.address, sender=funder), token
    )
    results: dict[str, Any] = {}
    for size in SIZES:
        clients = [Account.from_key((i + 1).to_bytes(32, "big")) for i in range(size)]
        token.mint(funder.address, BUDGET, sender=funder)
        job_id = pool.create_job(funder, server.address, BUDGET)
        rewards = allocate(1, BUDGET, {c.address: float(i + 1) for i, c in enumerate(clients)})
        tree = RewardTree(job_id, rewards)
        post = pool.post_round(server, tree)
        claimant = clients[-1]
        chain.transact(gas_payer, claimant.address, value=ALT)
        claim = pool.claim(claimant, tree)
        results[f"{size}_clients"] = {
            "post_round_gas": post.gas_used,
            "claim_gas": claim.gas_used,
            "proof_hashes": len(tree.proof(claimant.address)),
        }
    posts = [results[f"{size}_clients"]["post_round_gas"] for size in SIZES]
    spread = (max(posts) - min(posts)) / min(posts)
    results["post_round_spread"] = round(spread, 4)
    results["goal_constant_within_5pct"] = spread <= GOAL_SPREAD
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
