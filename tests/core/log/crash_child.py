"""Child process for the crash test: appends and anchors forever, printing acknowledgements.

Usage: python crash_child.py <log.sqlite3> <chain dir> <registry address>

Prints ``ack <index>`` once an append has returned (the record is durable) and
``anchored <size>`` once a head is anchored, then keeps going until it is killed.
"""

from __future__ import annotations

import sys

from ailedger.contracts import load
from ailedger.core.chain import Contract, EmbeddedChain, dev_accounts
from ailedger.core.log import Anchorer, BatchPolicy, SqliteStore, TransparencyLog


def record(index: int) -> bytes:
    return f"record {index}".encode()


def main() -> None:
    db, chain_dir, address = sys.argv[1:4]
    chain = EmbeddedChain(chain_dir)
    admin, signer = dev_accounts(2)
    registry = Contract(chain, address, load("AnchorRegistry").abi)
    anchorer = Anchorer.register(registry, "crash", admin=admin, signer=signer)
    log = TransparencyLog(SqliteStore(db), anchorer=anchorer, policy=BatchPolicy(max_records=7))
    log.anchor_pending()  # resume whatever the previous process left unanchored
    print(f"resumed {log.size}", flush=True)
    index = log.size
    while True:
        anchored = len(log.anchors())
        if index % 2:
            refs = log.append_many([record(index), record(index + 1), record(index + 2)])
        else:
            refs = [log.append(record(index))]
        for ref in refs:
            print(f"ack {ref.index}", flush=True)
        index += len(refs)
        for anchor in log.anchors()[anchored:]:
            print(f"anchored {anchor.tree_size}", flush=True)


if __name__ == "__main__":
    main()
