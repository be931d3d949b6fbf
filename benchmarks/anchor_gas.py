"""Gas of one anchor with the on-chain consistency proof, versus session 1's anchor.

Issue 11: ``AnchorRegistry.anchor`` now verifies an RFC 9162 consistency proof from the
previously anchored head (SHA-256 precompile) and reads the key epoch. This measures the
anchor transaction at tree sizes 1e3, 1e6 and 1e9 in 10,000-record batches (batches of
250 at 1e3, the log being smaller than a batch) against the registry as it was
(``baselines/AnchorRegistry_v1.vy``: no proof), on the same embedded chain.

A 1e9-record log is built in O(log n) hashes: every record is the same, so a subtree's
hash depends only on its length; its proofs are genuine RFC 9162 proofs (checked off
chain too) of the same length as any other log's. Each arm anchors three heads per
size and the third is measured (steady state).
Run: ``python -m benchmarks anchor_gas`` (writes ``benchmarks/results/anchor_gas.json``).
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import tempfile
from pathlib import Path

import vyper
from eth_account.signers.local import LocalAccount
from vyper.compiler.input_bundle import FilesystemInputBundle

from ailedger import contracts
from ailedger.contracts.typed_data import TREE_HEAD_TYPES, anchor_registry_domain
from ailedger.core.chain import Chain, Contract, EmbeddedChain, deploy, dev_accounts
from ailedger.core.identity import sign_typed
from ailedger.core.log.merkle import (
    consistency_proof,
    hash_children,
    hash_leaf,
    split,
    verify_consistency,
)

SIZES = (1_000, 1_000_000, 1_000_000_000)
BATCH = 10_000
BASELINE = Path(__file__).resolve().parent / "baselines" / "AnchorRegistry_v1.vy"
TIMESTAMP_MS = 1_700_000_000_000
# Session 1's signed struct had no key epoch.
V1_TYPES = {"TreeHead": [f for f in TREE_HEAD_TYPES["TreeHead"] if f["name"] != "keyEpoch"]}


def run() -> dict:
    """Gas of the measured anchor per size, both registries, and per record."""
    admin, signer = dev_accounts(2)
    with tempfile.TemporaryDirectory(prefix="ailedger-bench-") as tmp:
        chain = EmbeddedChain(Path(tmp) / "chain")
        try:
            artifact = contracts.load("AnchorRegistry")
            current = deploy(chain, artifact.abi, artifact.bytecode, sender=admin)
            abi, bytecode = _compile_baseline()
            baseline = deploy(chain, abi, bytecode, sender=admin)
            rows = [_measure(chain, current, baseline, admin, signer, size) for size in SIZES]
        finally:
            chain.close()
    return {
        "benchmark": "anchor_gas",
        "chain": "embedded (py-evm)",
        "batch_records": BATCH,
        "sizes": rows,
        "max_overhead_gas": max(r["proof_overhead_gas"] for r in rows),
        "max_gas_per_record_with_proof": max(r["gas_per_record_with_proof"] for r in rows),
    }


def _measure(
    chain: Chain,
    current: Contract,
    baseline: Contract,
    admin: LocalAccount,
    signer: LocalAccount,
    size: int,
) -> dict:
    batch = BATCH if size > 2 * BATCH else size // 4
    sizes = [size - 2 * batch, size - batch, size]
    roots = [_mth_of_length(n) for n in sizes]
    proofs = [[]] + [
        consistency_proof(old, new, lambda start, end: _mth_of_length(end - start))
        for old, new in itertools.pairwise(sizes)
    ]
    for (old, new), old_root, new_root, proof in zip(
        itertools.pairwise(sizes), roots[:-1], roots[1:], proofs[1:], strict=True
    ):
        verify_consistency(old, new, old_root, new_root, proof)
    name = f"bench-{size}".encode().ljust(32, b"\0")
    gas = {}
    for label, registry, types in (
        ("with_proof", current, TREE_HEAD_TYPES),
        ("v1", baseline, V1_TYPES),
    ):
        log_id = registry.compute_log_id(admin.address, name)
        registry.register_log(name, signer.address, sender=admin)
        domain = anchor_registry_domain(chain.chain_id, registry.address)
        for tree_size, root, proof in zip(sizes, roots, proofs, strict=True):
            message = {
                "logId": log_id,
                "treeSize": tree_size,
                "rootHash": root,
                "timestamp": TIMESTAMP_MS,
                "keyEpoch": 0,
            }
            if label == "v1":
                del message["keyEpoch"]
            signature = sign_typed(signer, domain, "TreeHead", types, message)
            args = [log_id, tree_size, root, TIMESTAMP_MS, signature]
            if label == "with_proof":
                args.append(proof)
            receipt = registry.anchor(*args, sender=admin)
        gas[label] = receipt.gas_used
    return {
        "tree_size": size,
        "batch_records": batch,
        "proof_hashes": len(proofs[-1]),
        "anchor_gas_with_proof": gas["with_proof"],
        "anchor_gas_v1": gas["v1"],
        "proof_overhead_gas": gas["with_proof"] - gas["v1"],
        "gas_per_record_with_proof": gas["with_proof"] / batch,
        "gas_per_record_v1": gas["v1"] / batch,
    }


@functools.cache
def _mth_of_length(n: int) -> bytes:
    """``MTH`` of ``n`` copies of one record: a real tree of any size in O(log n) hashes.

    Gas does not depend on the hash values, only on their number (and on calldata bytes,
    which look random either way).
    """
    if n < 1:
        raise ValueError(f"a tree of {n} records has no hash to anchor")
    if n == 1:
        return hash_leaf(b"benchmark record")
    k = split(n)
    return hash_children(_mth_of_length(k), _mth_of_length(n - k))


def _compile_baseline() -> tuple[list, bytes]:
    spec = importlib.util.find_spec("snekmate")
    assert spec is not None and spec.submodule_search_locations is not None
    roots = [Path(p).parent for p in spec.submodule_search_locations]
    bundle = FilesystemInputBundle([*dict.fromkeys(roots), BASELINE.parent])
    out = vyper.compile_code(
        BASELINE.read_text(),
        contract_path=BASELINE.name,
        input_bundle=bundle,
        output_formats=["abi", "bytecode"],
    )
    return out["abi"], bytes.fromhex(out["bytecode"].removeprefix("0x"))


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
