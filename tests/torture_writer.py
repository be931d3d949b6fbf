"""A writer process of the torture test: appends its own records to the decision log.

Usage: python torture_writer.py <name>. Uses the data dir of ``AILEDGER_HOME`` through
the platform, like any CLI command, and prints ``ack <index> <record>`` once each
append has returned (the record is durable), until it is killed or has written 10,000.
"""

from __future__ import annotations

import sys

from ailedger.config import Settings
from ailedger.platform import Platform


def main() -> None:
    name = sys.argv[1]
    with Platform.open(Settings()) as platform:
        log = platform.open_log("decisions")
        for i in range(10_000):
            record = f"torture-{name}-{i}"
            ref = log.append(record.encode())
            print(f"ack {ref.index} {record}", flush=True)


if __name__ == "__main__":
    main()
