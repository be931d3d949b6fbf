"""Proof generation and verification at 1,000,000 records: ailedger versus pymerkle.

Both logs hold the same records on SQLite. For random (seeded) leaves and old tree
sizes, time generating an inclusion proof and a consistency proof at the full size,
and verifying each; report the proof sizes. ailedger reads the O(log n) stored subtree
hashes a proof needs in one query; pymerkle's ``SqliteTree`` recomputes subtrees from
leaf hashes (with an in-memory cache of subroots).

Goal (issue 4): generation under 1 ms, verification under 0.1 ms (pymerkle measured
about 29 ms per inclusion proof while planning).

Run: ``python -m benchmarks log_proofs``; smaller with ``AILEDGER_BENCH_QUICK=1`` (or
``python -m benchmarks.log_proofs --quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pymerkle

from ailedger.core.log import SqliteStore, TransparencyLog, hash_leaf
from benchmarks.log_append import records

TOTAL = 1_000_000
QUICK_TOTAL = 100_000
BATCH = 10_000
SAMPLES = 1_000  # ailedger proofs of each kind
BASELINE_SAMPLES = 30  # pymerkle proofs of each kind (tens of ms each)


def _timed(calls: list[Callable[[], object]]) -> tuple[dict, list[object]]:
    """Run each call once; return latency statistics in ms and the results."""
    times, results = [], []
    for call in calls:
        began = time.perf_counter()
        results.append(call())
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    stats = {
        "mean_ms": round(statistics.fmean(times), 4),
        "median_ms": round(times[len(times) // 2], 4),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 4),
        "samples": len(times),
    }
    return stats, results


def _ours(log: TransparencyLog, size: int, indices: list[int], olds: list[int]) -> dict:
    root = log.root()
    leaf_hashes = {i: log.leaf_hash(i) for i in indices}
    old_roots = {m: log.root(m) for m in olds}

    incl_gen, proofs = _timed([lambda i=i: log.inclusion_proof(i) for i in indices])
    incl_ver, _ = _timed([lambda p=p: p.verify(leaf_hashes[p.leaf_index], root) for p in proofs])
    cons_gen, cproofs = _timed([lambda m=m: log.consistency_proof(m) for m in olds])
    cons_ver, _ = _timed([lambda p=p: p.verify(old_roots[p.old_size], root) for p in cproofs])
    return {
        "inclusion_generate": incl_gen,
        "inclusion_verify": incl_ver,
        "inclusion_proof_hashes_mean": statistics.fmean(len(p.hashes) for p in proofs),
        "inclusion_proof_bytes_max": max(32 * len(p.hashes) for p in proofs),
        "consistency_generate": cons_gen,
        "consistency_verify": cons_ver,
        "consistency_proof_hashes_mean": statistics.fmean(len(p.hashes) for p in cproofs),
        "consistency_proof_bytes_max": max(32 * len(p.hashes) for p in cproofs),
    }


def _pymerkle(tree: pymerkle.SqliteTree, size: int, indices: list[int], olds: list[int]) -> dict:
    root = tree.get_root()
    leaves = {i: tree.get_leaf(i + 1) for i in indices}  # pymerkle counts leaves from 1
    states = {m: tree.get_root(m) for m in olds}
    tree.cache_clear()  # start cold, as a proof for an arbitrary old record would
    incl_gen, proofs = _timed([lambda i=i: tree.prove_inclusion(i + 1, size) for i in indices])
    incl_ver, _ = _timed(
        [
            lambda i=i, p=p: pymerkle.verify_inclusion(leaves[i], root, p)
            for i, p in zip(indices, proofs, strict=True)
        ]
    )
    cons_gen, cproofs = _timed([lambda m=m: tree.prove_consistency(m, size) for m in olds])
    cons_ver, _ = _timed(
        [
            lambda m=m, p=p: pymerkle.verify_consistency(states[m], root, p)
            for m, p in zip(olds, cproofs, strict=True)
        ]
    )
    return {
        "inclusion_generate": incl_gen,
        "inclusion_verify": incl_ver,
        "inclusion_proof_bytes_max": max(32 * len(p.path) for p in proofs),
        "consistency_generate": cons_gen,
        "consistency_verify": cons_ver,
        "consistency_proof_bytes_max": max(32 * len(p.path) for p in cproofs),
    }


def run(quick: bool | None = None) -> dict:
    """Build both logs, time proofs on each; return JSON-able results."""
    if quick is None:
        quick = os.environ.get("AILEDGER_BENCH_QUICK") == "1"
    total = QUICK_TOTAL if quick else TOTAL
    rng = random.Random(9162)
    indices = [rng.randrange(total) for _ in range(SAMPLES)]
    olds = [rng.randrange(1, total) for _ in range(SAMPLES)]
    with tempfile.TemporaryDirectory(prefix="ailedger-bench-") as tmp:
        log = TransparencyLog(SqliteStore(Path(tmp) / "ours.sqlite3"))
        tree = pymerkle.SqliteTree(str(Path(tmp) / "pymerkle.sqlite3"))
        for start in range(0, total, BATCH):
            batch = records(start, BATCH)
            log.append_many(batch)
            tree.append_entries(batch)
        assert log.root() == tree.get_root()  # same RFC 9162 tree
        assert log.leaf_hash(7) == hash_leaf(records(7, 1)[0])
        ours = _ours(log, total, indices, olds)
        theirs = _pymerkle(tree, total, indices[:BASELINE_SAMPLES], olds[:BASELINE_SAMPLES])
        log.close()
        tree.close()

    def speedup(kind: str) -> float:
        return round(theirs[kind]["mean_ms"] / ours[kind]["mean_ms"], 1)

    return {
        "records": total,
        "ailedger": ours,
        "pymerkle": theirs,
        "speedup_vs_pymerkle": {
            kind: speedup(kind)
            for kind in (
                "inclusion_generate",
                "inclusion_verify",
                "consistency_generate",
                "consistency_verify",
            )
        },
        "goals": {
            "inclusion_generate_under_1ms": ours["inclusion_generate"]["mean_ms"] < 1,
            "inclusion_verify_under_0.1ms": ours["inclusion_verify"]["mean_ms"] < 0.1,
            "consistency_generate_under_1ms": ours["consistency_generate"]["mean_ms"] < 1,
            "consistency_verify_under_0.1ms": ours["consistency_verify"]["mean_ms"] < 0.1,
        },
        "quick": quick,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 records instead of 1M")
    print(json.dumps(run(quick=parser.parse_args().quick or None), indent=2))
