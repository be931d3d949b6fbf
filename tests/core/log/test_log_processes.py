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

from ailedger.core.log import SqliteStore, TransparencyLog

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
