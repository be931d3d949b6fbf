"""The recursion limit stays safe after importing everything a server or the CLI imports.

py_ecc raises it to 100,000 on import; at that limit ``json.loads`` of a document
nested 100,000 deep overflows the C stack and kills the process (SIGSEGV) instead
of raising ``RecursionError``.
"""

from __future__ import annotations

import subprocess
import sys

from eth import EVM_RECURSION_LIMIT

PROBE = """
import json, sys, threading
import eth_account, web3, py_ecc, eth
import ailedger.core.chain, ailedger.platform, ailedger.api, ailedger.services.app
import ailedger.cli.main, ailedger.demo
print(sys.getrecursionlimit(), flush=True)
outcome = []
def parse():
    try:
        json.loads("[" * 100_000 + "]" * 100_000)
    except RecursionError:
        outcome.append("RecursionError")
worker = threading.Thread(target=parse)  # routes run in worker threads
worker.start()
worker.join()
print(outcome[0])
"""


def test_importing_everything_leaves_a_limit_deep_json_cannot_crash():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    assert done.returncode == 0, f"died with {done.returncode}: {done.stderr[-500:]}"
    limit, outcome = done.stdout.split()
    assert int(limit) == EVM_RECURSION_LIMIT  # what py-evm needs for 1024 EVM frames
    assert outcome == "RecursionError"
