"""Child process of the many-writers test: appends to one shared log and anchors batches.

Usage: python writer_child.py <store> <chain dir> <registry address> <name> <count>

``<store>`` is a SQLite path or ``postgresql://...#<schema>``. Waits for a line on
stdin (so that every writer starts at once), then appends ``count`` records named
``<name>-<i>`` (singly and in threes), printing ``ack <index> <record>`` as each
append returns. Batches of 5 records close and anchor from every writer.
"""

from __future__ import annotations

import sys

from ailedger.contracts import load
from ailedger.core.chain import Contract, EmbeddedChain, dev_accounts
from ailedger.core.log import (
    Anchorer,
    BatchPolicy,
    LogStore,
    PostgresStore,
    SqliteStore,
    TransparencyLog,
)


def open_store(spec: str) -> LogStore:
    if spec.startswith("postgresql://"):
        url, _, schema = spec.partition("#")
        return PostgresStore(url, schema=schema)
    return SqliteStore(spec)


def main() -> None:
    spec, chain_dir, address, name, count = sys.argv[1:6]
    chain = EmbeddedChain(chain_dir)
    admin, signer = dev_accounts(2)
    registry = Contract(chain, address, load("AnchorRegistry").abi)
    anchorer = Anchorer.register(registry, "shared", admin=admin, signer=signer)
    log = TransparencyLog(open_store(spec), anchorer=anchorer, policy=BatchPolicy(max_records=5))
    sys.stdin.readline()
    done = 0
    while done < int(count):
        batch = [f"{name}-{done + i}".encode() for i in range(1 if done % 2 else 3)]
        for ref, record in zip(log.append_many(batch), batch, strict=True):
            print(f"ack {ref.index} {record.decode()}", flush=True)
        done += len(batch)
    log.close_batch()
    log.close()
    chain.close()


if __name__ == "__main__":
    main()
