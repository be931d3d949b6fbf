"""An exclusive lock on a file, across threads and processes.

``flock`` on a fresh descriptor each time: it excludes other descriptors of this process
as well as other processes, and the OS releases it if the holder dies (SIGKILL included),
so a crashed writer never leaves a lock behind.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["exclusive_lock"]


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold ``path`` (created if missing; its directory must exist) exclusively until the
    block ends."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
