"""EmbeddedChain only: persistence, crash safety, corruption, sharing a chain dir."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from eth_utils import keccak

from ailedger.config import Settings
from ailedger.core.chain import (
    Contract,
    EmbeddedChain,
    RpcChain,
    deploy,
    dev_accounts,
    open_chain,
)
from ailedger.errors import ChainError, IntegrityError, InvalidInputError

CHILD_PRELUDE = textwrap.dedent(
    """
    import json, sys
    from ailedger.core.chain import Contract, EmbeddedChain, dev_accounts
    chain_dir, token_address, abi_path = sys.argv[1], sys.argv[2], sys.argv[3]
    chain = EmbeddedChain(chain_dir)
    token = Contract(chain, token_address, json.load(open(abi_path)))
    alice, bob = dev_accounts(2)
    """
)


def _run_child(body: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(body), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def chain_dir(tmp_path: Path) -> Path:
    return tmp_path / "chain"


@pytest.fixture
def deployed(chain_dir: Path, token_code, tmp_path: Path) -> tuple[str, Path]:
    """A chain dir holding a deployed token (closed again); returns (address, abi file)."""
    with EmbeddedChain(chain_dir) as chain:
        token = deploy(
            chain, token_code.abi, token_code.bytecode, 10**24, sender=dev_accounts(1)[0]
        )
    abi_path = tmp_path / "abi.json"
    abi_path.write_text(json.dumps(token_code.abi))
    return token.address, abi_path


def test_open_chain_is_embedded_without_a_url(settings: Settings) -> None:
    chain = open_chain(settings)
    try:
        assert isinstance(chain, EmbeddedChain)
        assert chain.path.parent == settings.chain_dir
    finally:
        chain.close()


@pytest.mark.slow
def test_open_chain_is_rpc_with_a_url(settings: Settings, anvil_url: str) -> None:
    chain = open_chain(settings.model_copy(update={"chain_url": anvil_url}))
    try:
        assert isinstance(chain, RpcChain)
    finally:
        chain.close()


def test_genesis_block_is_zero_and_funds_dev_accounts(chain_dir: Path) -> None:
    with EmbeddedChain(chain_dir) as chain:
        assert chain.block_number() == 0
        assert chain.balance(dev_accounts(10)[9].address) == 10_000 * 10**18


def test_first_contract_address_matches_anvil(chain_dir: Path, token_code) -> None:
    # Same accounts, same nonces: the same addresses as on anvil's fresh chain.
    with EmbeddedChain(chain_dir) as chain:
        token = deploy(chain, token_code.abi, token_code.bytecode, 1, sender=dev_accounts(1)[0])
    assert token.address == "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_timestamps_strictly_increase(chain_dir: Path) -> None:
    alice, bob = dev_accounts(2)
    with EmbeddedChain(chain_dir) as chain:
        for _ in range(5):
            chain.transact(alice, bob.address, value=1)
        stamps = [chain.get_block(n).timestamp for n in range(6)]
    assert all(a < b for a, b in itertools.pairwise(stamps))


def test_chain_id_is_configurable(tmp_path: Path) -> None:
    with EmbeddedChain(tmp_path / "c", chain_id=1337) as chain:
        assert chain.chain_id == 1337


def test_reopening_with_another_chain_id_is_refused(chain_dir: Path) -> None:
    EmbeddedChain(chain_dir).close()
    with pytest.raises(InvalidInputError, match="31337") as excinfo:
        EmbeddedChain(chain_dir, chain_id=1)
    assert excinfo.value.field == "chain_id"


def test_revert_leaves_the_file_unchanged(chain_dir: Path, deployed) -> None:
    address, abi_path = deployed
    chain = EmbeddedChain(chain_dir)
    token = Contract(chain, address, json.loads(abi_path.read_text()))
    with pytest.raises(ChainError):
        token.transfer(address, 1, sender=dev_accounts(3)[2])
    chain.close()
    with EmbeddedChain(chain_dir) as reopened:
        assert reopened.block_number() == 1
        assert reopened.nonce(dev_accounts(3)[2].address) == 0


@pytest.mark.slow
def test_state_persists_across_processes(chain_dir: Path, deployed) -> None:
    address, abi_path = deployed
    child = _run_child(
        """
        token.transfer(bob.address, 77, sender=alice)
        print(token.balanceOf(bob.address), chain.block_number())
        chain.close()
        """,
        str(chain_dir),
        address,
        str(abi_path),
    )
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.split() == ["77", "2"]
    with EmbeddedChain(chain_dir) as chain:
        token = Contract(chain, address, json.loads(abi_path.read_text()))
        assert token.balanceOf(dev_accounts(2)[1].address) == 77
        assert chain.block_number() == 2


@pytest.mark.slow
@pytest.mark.parametrize("acknowledged_before_kill", [1, 12])
def test_sigkill_loses_no_acknowledged_transaction(
    chain_dir: Path, deployed, acknowledged_before_kill: int
) -> None:
    address, abi_path = deployed
    child = _run_child(
        """
        while True:
            receipt = token.transfer(bob.address, 1, sender=alice)
            print(receipt.tx_hash.hex(), flush=True)
        """,
        str(chain_dir),
        address,
        str(abi_path),
    )
    acknowledged = []
    assert child.stdout is not None
    while len(acknowledged) < acknowledged_before_kill:
        line = child.stdout.readline()
        assert line, child.stderr.read() if child.stderr else "child exited"
        acknowledged.append(bytes.fromhex(line.strip()))
    child.send_signal(signal.SIGKILL)  # wherever it is: mid-execution, mid-commit, printing
    child.wait()

    with EmbeddedChain(chain_dir) as chain:
        token = Contract(chain, address, json.loads(abi_path.read_text()))
        for tx_hash in acknowledged:
            assert chain.wait_for_receipt(tx_hash).status
        mined = len(token.get_events("Transfer")) - 1  # minus the mint at deployment
        alice, bob = dev_accounts(2)
        assert mined >= len(acknowledged)
        assert token.balanceOf(bob.address) == mined
        assert chain.nonce(alice.address) == 1 + mined
        assert chain.block_number() == 1 + mined
        # and the chain goes on from there
        token.transfer(bob.address, 1, sender=alice)
        assert token.balanceOf(bob.address) == mined + 1


@pytest.mark.slow
def test_two_processes_writing_at_once_interleave_safely(chain_dir: Path, deployed) -> None:
    address, abi_path = deployed
    go = chain_dir.parent / "go"
    body = f"""
        import os, time
        print("ready", flush=True)
        while not os.path.exists({str(go)!r}):  # start together: the writes must interleave
            time.sleep(0.01)
        hashes = [token.transfer(bob.address, 1, sender=alice).tx_hash.hex() for _ in range(15)]
        print(" ".join(hashes))
        """
    children = [_run_child(body, str(chain_dir), address, str(abi_path)) for _ in range(2)]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    go.touch()
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        outputs.extend(bytes.fromhex(h) for h in out.split())
    with EmbeddedChain(chain_dir) as chain:
        token = Contract(chain, address, json.loads(abi_path.read_text()))
        alice, bob = dev_accounts(2)
        assert token.balanceOf(bob.address) == 30
        assert chain.nonce(alice.address) == 31  # same sender in both: no nonce was reused
        assert chain.block_number() == 31
        assert {chain.wait_for_receipt(h).block_number for h in outputs} == set(range(2, 32))


def test_second_instance_sees_and_extends_the_same_chain(chain_dir: Path) -> None:
    alice, bob = dev_accounts(2)
    first, second = EmbeddedChain(chain_dir), EmbeddedChain(chain_dir)
    try:
        second.transact(alice, bob.address, value=5)
        assert first.block_number() == 1
        first.transact(alice, bob.address, value=5)  # builds on second's block, nonce 1
        assert second.block_number() == 2
        assert second.nonce(alice.address) == 2
        assert first.balance(bob.address) == 10_000 * 10**18 + 10
    finally:
        first.close()
        second.close()


def test_new_blocks_sees_blocks_committed_by_another_instance(chain_dir: Path) -> None:
    alice, bob = dev_accounts(2)
    watcher, writer = EmbeddedChain(chain_dir), EmbeddedChain(chain_dir)
    try:
        blocks = watcher.new_blocks(poll_interval=0.01)
        tx_hash = writer.transact(alice, bob.address, value=1).tx_hash
        block = next(blocks)
        assert (block.number, block.tx_hashes) == (1, (tx_hash,))
    finally:
        watcher.close()
        writer.close()


def _chain_file(chain_dir: Path) -> Path:
    with EmbeddedChain(chain_dir) as chain:
        alice, bob = dev_accounts(2)
        for _ in range(20):
            chain.transact(alice, bob.address, value=1, gas=21_000)
        return chain.path


def test_overwritten_file_is_refused_naming_it(chain_dir: Path) -> None:
    path = _chain_file(chain_dir)
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(size // 4)
        handle.write(b"\xff" * (size // 2))
    with pytest.raises(IntegrityError, match=re.escape(str(path))):
        EmbeddedChain(chain_dir)


def test_overwritten_header_is_refused_naming_it(chain_dir: Path) -> None:
    path = _chain_file(chain_dir)
    with path.open("r+b") as handle:
        handle.write(b"not a chain file" * 8)
    with pytest.raises(IntegrityError, match=re.escape(str(path))):
        EmbeddedChain(chain_dir)


@pytest.mark.parametrize("keep", [0.5, 0.0])
def test_truncated_file_is_refused_naming_it(chain_dir: Path, keep: float) -> None:
    path = _chain_file(chain_dir)
    truncated_size = int(path.stat().st_size * keep)
    os.truncate(path, truncated_size)
    with pytest.raises(IntegrityError, match=re.escape(str(path))):
        EmbeddedChain(chain_dir)
    assert path.stat().st_size == truncated_size  # never silently reset


def test_refused_file_is_left_as_it_was(chain_dir: Path) -> None:
    path = _chain_file(chain_dir)
    os.truncate(path, path.stat().st_size // 2)
    damaged = keccak(path.read_bytes())
    with pytest.raises(IntegrityError):
        EmbeddedChain(chain_dir)
    assert keccak(path.read_bytes()) == damaged


def test_closed_chain_refuses_use(chain_dir: Path) -> None:
    chain = EmbeddedChain(chain_dir)
    chain.close()
    with pytest.raises(ChainError, match="closed"):
        chain.block_number()


def test_journal_without_its_chain_file_is_refused(chain_dir: Path) -> None:
    path = _chain_file(chain_dir)
    path.rename(chain_dir / "moved-away.sqlite3")
    (chain_dir / "chain.sqlite3-wal").write_bytes(b"stale journal")
    with pytest.raises(IntegrityError, match=re.escape("chain.sqlite3-wal")):
        EmbeddedChain(chain_dir)
    assert not path.exists()


def test_overwritten_pages_are_refused_in_one_line_naming_the_file(chain_dir: Path) -> None:
    path = _chain_file(chain_dir)
    size = path.stat().st_size
    with path.open("r+b") as handle:  # damage many pages: quick_check reports each
        for offset in range(size // 3, size, 4096 * 3):
            handle.seek(offset + 100)
            handle.write(os.urandom(200))
    with pytest.raises(IntegrityError) as caught:
        EmbeddedChain(chain_dir)
    assert str(path) in caught.value.message
    assert "\n" not in caught.value.message


def test_second_instance_in_one_process_keeps_the_first_ones_locks(chain_dir: Path) -> None:
    alice, bob = dev_accounts(2)
    chain = EmbeddedChain(chain_dir)
    chain.transact(alice, bob.address, value=1, gas=21_000)
    EmbeddedChain(chain_dir).close()  # a second opener in this process (API + dashboard)
    reader = "from ailedger.core.chain import EmbeddedChain; import sys\n" + (
        "c = EmbeddedChain(sys.argv[1]); print(c.block_number()); c.close()"
    )

    def head_seen_by_another_process() -> int:
        done = subprocess.run(
            [sys.executable, "-c", reader, str(chain_dir)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return int(done.stdout)

    assert head_seen_by_another_process() == 1
    chain.transact(alice, bob.address, value=1, gas=21_000)
    assert head_seen_by_another_process() == 2
    fds = Path("/proc/self/fd")
    open_files = [os.readlink(fd) for fd in fds.iterdir() if fd.is_symlink()]
    assert not [f for f in open_files if str(chain_dir) in f and f.endswith("(deleted)")]
    chain.close()
