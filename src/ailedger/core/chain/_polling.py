"""Block subscription by polling, shared by both chain implementations."""

from __future__ import annotations

import time
from collections.abc import Iterator

from ailedger.core.chain.base import BlockInfo, Chain


def poll_blocks(chain: Chain, next_number: int, poll_interval: float) -> Iterator[BlockInfo]:
    """Yield block ``next_number`` and each later one as soon as the head reaches it.

    Polling (rather than a push subscription) works the same for a node over HTTP
    and for an embedded chain written to by other processes.
    """
    while True:
        if next_number <= chain.block_number():
            yield chain.get_block(next_number)
            next_number += 1
        else:
            time.sleep(poll_interval)
