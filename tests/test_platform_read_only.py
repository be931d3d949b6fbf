"""Checking commands on a read-only copy of a data dir, and on an empty one.

An auditor holds a copy they may not (or, as root, must not) change: `log verify`
and `audit verify` must write nothing at all, not even SQLite's -wal/-shm files.
Tests may run as root, where ``chmod a-w`` stops nothing, so every file's bytes and
mtime, and the list of files, are compared before and after.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ailedger.core.log import SqliteStore
from ailedger.platform import Platform


def _snapshot(home: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(home)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(home.rglob("*"))
        if p.is_file()
    }


def _make_read_only(home: Path) -> None:
    for path in [home, *home.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


# Root without these capabilities is bound by permission bits like anyone else.
_OBEY_PERMISSIONS = [
    "setpriv",
    "--bounding-set",
    "-dac_override,-dac_read_search",
    "--inh-caps",
    "-dac_override,-dac_read_search",
    "--",
]


def _cli(home: Path, *args: str, unprivileged: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the CLI on ``home``; ``unprivileged``: when we are root, without the
    capabilities that let root ignore missing write bits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AILEDGER_")}
    env["AILEDGER_HOME"] = str(home)
    prefix = _OBEY_PERMISSIONS if unprivileged and os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, sys.executable, "-m", "ailedger.cli", *args],
        capture_output=True,
        text=True,
        env=env,
    )


@pytest.fixture
def read_only_copy(settings, tmp_path):
    """A copy of a data dir with an anchored decision log, every write bit removed."""
    with Platform.open(settings) as platform:
        platform.deploy_core_contracts()
        log = platform.open_log("decisions")
        log.append_many([f"record {i}".encode() for i in range(10)])
        log.close_batch()
        log.append(b"record 10")
        log.close()
    copy = tmp_path / "copy"
    shutil.copytree(settings.home, copy)
    _make_read_only(copy)
    yield copy
    for path in [copy, *copy.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_log_verify_on_a_read_only_copy_passes_and_writes_nothing(read_only_copy):
    before = _snapshot(read_only_copy)
    done = _cli(read_only_copy, "log", "verify", unprivileged=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "11 records" in done.stdout
    assert _snapshot(read_only_copy) == before


def test_read_only_log_store_refuses_appends_with_one_clear_line(read_only_copy):
    store = SqliteStore(read_only_copy / "logs" / "decisions.sqlite3", read_only=True)
    assert store.size() == 11
    from ailedger.errors import StorageError

    with pytest.raises(StorageError, match="open read-only"):
        store.append(11, [b"x"], [b"\x00" * 32])
    store.close()


def test_log_verify_on_an_empty_data_dir_says_which_chain_to_point_at(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _cli(empty, "log", "verify")
    assert done.returncode == 1
    assert "AILEDGER_CHAIN_URL" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert list(empty.iterdir()) == []  # nothing created


def test_audit_verify_on_an_empty_data_dir_says_which_chain_to_point_at(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"record": {}}))
    done = _cli(empty, "audit", "verify", str(bundle))
    assert done.returncode == 1
    assert "AILEDGER_CHAIN_URL" in done.stdout + done.stderr
    assert list(empty.iterdir()) == []
