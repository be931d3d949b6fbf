"""One log file, several connections and several processes: SQLite's locks must hold.

POSIX record locks belong to a process, and closing ANY descriptor of a file drops all
of them. A second store opened on a file this process already holds must therefore not
touch the file outside SQLite, or another process may checkpoint and delete the WAL
while this one keeps writing into the deleted file (records acknowledged, then lost).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ailedger.core.log import Anchorer, PostgresStore, SqliteStore, TransparencyLog, verify_log
from tests.core.log.conftest import POSTGRES_URL

_COUNT_IN_OTHER_PROCESS = """
import sys
from ailedger.core.log import SqliteStore
store = SqliteStore(sys.argv[1])
print(store.size())
store.close()
"""


def _size_seen_by_another_process(path: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_IN_OTHER_PROCESS, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    )
    return int(done.stdout)


def _deleted_files_open_in_this_process() -> list[str]:
    fds = Path("/proc/self/fd")
    targets = []
    for fd in fds.iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:
            continue
    return [target for target in targets if target.endswith("(deleted)")]


def test_second_store_on_an_open_file_keeps_the_first_ones_locks(tmp_path):
    path = tmp_path / "log.sqlite3"
    log = TransparencyLog(SqliteStore(path))
    log.append(b"first")
    SqliteStore(path).close()  # what the dashboard does on every request
    # Another process opens and closes the log (`ailedger log verify`): as the last
    # connection it would checkpoint and delete the WAL if our locks were gone.
    assert _size_seen_by_another_process(path) == 1
    log.append(b"second")
    assert not [f for f in _deleted_files_open_in_this_process() if "log.sqlite3" in f]
    assert _size_seen_by_another_process(path) == 2
    log.close()


CHILD = Path(__file__).with_name("writer_child.py")
WRITERS, RECORDS_EACH = 4, 24


def test_writers_in_several_processes_append_to_one_log_exactly_once(
    backend, open_store, tmp_path, registry
):
    store = open_store()
    spec = str(tmp_path / "log.sqlite3") if backend == "sqlite" else _postgres_spec(store)
    # Registered once here, so that the children race on appends and anchors only.
    Anchorer.register(registry.contract, "shared", admin=registry.admin, signer=registry.signer)
    children = [
        subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                spec,
                str(registry.chain.path.parent),
                registry.contract.address,
                f"w{n}",
                str(RECORDS_EACH),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    acked: dict[int, str] = {}
    for child in children:
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
        for line in out.splitlines():
            _, index, record = line.split()
            assert int(index) not in acked, f"index {index} acknowledged twice"
            acked[int(index)] = record

    assert len(acked) == WRITERS * RECORDS_EACH
    assert store.size() == WRITERS * RECORDS_EACH
    stored = store.entries(0, store.size())
    assert {i: entry.decode() for i, entry in enumerate(stored)} == acked
    anchorer = registry.anchorer("shared")
    report = verify_log(store, anchorer)
    assert report.records == WRITERS * RECORDS_EACH
    assert store.anchors()[-1].tree_size == WRITERS * RECORDS_EACH


def _postgres_spec(store: PostgresStore) -> str:
    return f"{POSTGRES_URL}#{store.schema}"
