"""Durable appends per second: ailedger's log versus pymerkle's SqliteTree, same records.

Three arms append the same records, batch by batch, interleaved so that load from
anything else on the machine hits all of them alike:

* ``ailedger``: ``TransparencyLog`` on ``SqliteStore`` (WAL, ``synchronous=FULL``),
  ``append_many`` of 10,000 records per transaction; stores each record with the
  perfect-subtree hashes that make any proof O(log n).
* ``pymerkle``: ``pymerkle.SqliteTree.append_entries`` (stores record + leaf hash).
* ``sqlite_sha256_ceiling``: a bare SQLite table, one SHA-256 per record: the most
  any SQLite-backed log can do.

Then single appends (one transaction each) for ailedger and pymerkle. Records are
~120-byte decision-like JSON, deterministic. Goal (issue 4): ailedger at least
pymerkle's batch rate at 1,000,000 records.

Run: ``python -m benchmarks log_append``; smaller with ``AILEDGER_BENCH_QUICK=1`` (or
``python -m benchmarks.log_append --quick``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from pymerkle import SqliteTree

from ailedger.core.log import SqliteStore, TransparencyLog

TOTAL = 1_000_000
BATCH = 10_000
SINGLE = 2_000
QUICK_TOTAL, QUICK_SINGLE = 100_000, 300


def records(start: int, count: int) -> list[bytes]:
    """Deterministic decision-like records ``start .. start + count - 1``."""
    return [
        b'{"decision":%d,"model":"credit-lgbm-7f3a","score":0.%06d,"approved":%s}'
        % (i, (i * 7919) % 1_000_000, b"true" if i % 3 else b"false")
        for i in range(start, start + count)
    ]


class _Ceiling:
    """Plain SQLite inserts plus one SHA-256 per record, with the same durability and the
    same SQLite tuning as ours (16 KiB pages, 100 rows per INSERT): no tree at all."""

    PER = 100

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("page_size = 16384", "journal_mode = WAL", "synchronous = FULL"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute("CREATE TABLE r (idx INTEGER PRIMARY KEY, entry BLOB, hash BLOB)")
        self.sql = "INSERT INTO r VALUES " + ", ".join(["(?, ?, ?)"] * self.PER)
        self.size = 0

    def append_many(self, batch: list[bytes]) -> None:
        assert len(batch) % self.PER == 0
        sha256 = hashlib.sha256
        values = []
        for i, entry in enumerate(batch, self.size):
            values += (i, entry, sha256(b"\x00" + entry).digest())
        self.conn.execute("BEGIN")
        self.conn.executemany(self.sql, zip(*[iter(values)] * (3 * self.PER), strict=True))
        self.conn.execute("COMMIT")
        self.size += len(batch)


def _file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def run(quick: bool | None = None) -> dict:
    """Measure batch and single append rates of the three arms; return JSON-able results."""
    if quick is None:
        quick = os.environ.get("AILEDGER_BENCH_QUICK") == "1"
    total, single = (QUICK_TOTAL, QUICK_SINGLE) if quick else (TOTAL, SINGLE)
    with tempfile.TemporaryDirectory(prefix="ailedger-bench-") as tmp:
        paths = {name: Path(tmp) / f"{name}.sqlite3" for name in ("ours", "pymerkle", "ceil")}
        ours = TransparencyLog(SqliteStore(paths["ours"]))
        theirs = SqliteTree(str(paths["pymerkle"]))
        ceiling = _Ceiling(paths["ceil"])
        arms = {
            "ailedger": ours.append_many,
            "pymerkle": theirs.append_entries,
            "sqlite_sha256_ceiling": ceiling.append_many,
        }
        seconds = dict.fromkeys(arms, 0.0)
        checkpoints: dict[str, list[dict]] = {name: [] for name in arms}
        window = dict.fromkeys(arms, 0.0)
        for start in range(0, total, BATCH):
            batch = records(start, BATCH)
            for name, append in arms.items():
                began = time.perf_counter()
                append(batch)
                elapsed = time.perf_counter() - began
                seconds[name] += elapsed
                window[name] += elapsed
            done = start + BATCH
            if done % (total // 10) == 0:  # the rate over each tenth shows any slowdown
                for name in arms:
                    rate = (total // 10) / window[name]
                    checkpoints[name].append({"records": done, "appends_per_s": round(rate)})
                    window[name] = 0.0
        batch_rates = {name: total / s for name, s in seconds.items()}
        assert ours.size == total and theirs.get_size() == total

        single_rates = {}
        for name, append in (("ailedger", ours.append), ("pymerkle", theirs.append_entry)):
            extra = records(total, single)
            began = time.perf_counter()
            for record in extra:
                append(record)
            single_rates[name] = single / (time.perf_counter() - began)
        storage = {
            "ailedger": _file_bytes(paths["ours"]),
            "pymerkle": _file_bytes(paths["pymerkle"]),
            "sqlite_sha256_ceiling": _file_bytes(paths["ceil"]),
        }
        ours.close()
        theirs.close()
        ceiling.conn.close()

    ratio = batch_rates["ailedger"] / batch_rates["pymerkle"]
    return {
        "records": total,
        "batch_size": BATCH,
        "record_bytes": len(records(0, 1)[0]),
        "batch_appends_per_s": {k: round(v) for k, v in batch_rates.items()},
        "batch_rate_by_tenth": checkpoints,
        "ailedger_vs_pymerkle": round(ratio, 3),
        "ailedger_vs_ceiling": round(
            batch_rates["ailedger"] / batch_rates["sqlite_sha256_ceiling"], 3
        ),
        "goal": "ailedger batch rate >= pymerkle's",
        "goal_met": ratio >= 1.0,
        "single_appends": single,
        "single_appends_per_s": {k: round(v) for k, v in single_rates.items()},
        "storage_bytes": storage,
        "durability": "ailedger and ceiling: SQLite WAL, synchronous=FULL; "
        "pymerkle: SQLite defaults (rollback journal, synchronous=FULL)",
        "quick": quick,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 records instead of 1M")
    print(json.dumps(run(quick=parser.parse_args().quick or None), indent=2))
