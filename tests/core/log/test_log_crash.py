"""A process killed with SIGKILL while appending and anchoring loses no acknowledged record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ailedger.contracts import load
from ailedger.core.chain import Contract, EmbeddedChain, deploy, dev_accounts
from ailedger.core.log import Anchorer, SqliteStore, TransparencyLog, verify_log

CHILD = Path(__file__).with_name("crash_child.py")


def _run_until_killed(db: Path, chain_dir: Path, registry: str, acks_wanted: int) -> list[int]:
    """Start the child, read ``acks_wanted`` acknowledgements, SIGKILL it, return them."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(db), str(chain_dir), registry],
        stdout=subprocess.PIPE,
        text=True,
    )
    acked: list[int] = []
    try:
        for line in child.stdout:
            kind, _, value = line.partition(" ")
            if kind == "ack":
                acked.append(int(value))
            if len(acked) >= acks_wanted:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    return acked


@pytest.mark.slow
def test_sigkill_during_appends_and_anchoring_loses_no_acknowledged_record(tmp_path):
    chain_dir, db = tmp_path / "chain", tmp_path / "log.sqlite3"
    admin, signer = dev_accounts(2)
    with EmbeddedChain(chain_dir) as chain:
        artifact = load("AnchorRegistry")
        registry = deploy(chain, artifact.abi, artifact.bytecode, sender=admin).address

    acked: list[int] = []
    # Kill at a different point of the append/anchor cycle each round (batches of 7,
    # appends of 1 and 3), reopening the same log every time.
    for wanted in (23, 31, 40):
        acked += _run_until_killed(db, chain_dir, registry, wanted)

    with EmbeddedChain(chain_dir) as chain:
        contract = Contract(chain, registry, load("AnchorRegistry").abi)
        anchorer = Anchorer.register(contract, "crash", admin=admin, signer=signer)
        log = TransparencyLog(SqliteStore(db), anchorer=anchorer)
        assert acked == sorted(set(acked))  # each round resumed after the last one's records
        assert log.size > acked[-1]
        for index in acked:
            assert log.record(index) == f"record {index}".encode()
        log.close_batch()  # anchoring resumes: everything appended gets anchored
        report = verify_log(log.store, anchorer)
        assert report.records == log.size
        assert report.anchored_size == log.size
        log.close()
