"""The ``Chain`` interface: what ailedger needs from an EVM chain.

Two implementations pass one shared test suite: ``EmbeddedChain`` (py-evm in
process, persisted in the data dir) and ``RpcChain`` (any EVM JSON-RPC node).
Domains never talk to py-evm or web3 directly; they use a ``Chain`` and the
typed ``Contract`` wrappers built on it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount


@dataclass(frozen=True)
class LogEntry:
    """One EVM log, as emitted by a contract event."""

    address: str  # checksummed
    topics: tuple[bytes, ...]  # each 32 bytes
    data: bytes
    block_number: int
    tx_hash: bytes
    log_index: int


@dataclass(frozen=True)
class Receipt:
    """The outcome of a mined transaction."""

    tx_hash: bytes
    block_number: int
    status: bool
    gas_used: int
    contract_address: str | None
    logs: tuple[LogEntry, ...]


@dataclass(frozen=True)
class BlockInfo:
    """A mined block header, reduced to what callers use."""

    number: int
    hash: bytes
    timestamp: int
    tx_hashes: tuple[bytes, ...]


class Chain(ABC):
    """An EVM chain ailedger can deploy to, call and transact on.

    Addresses passed in may be any case; they are validated (EIP-55 checksum when
    mixed case) and an invalid one raises ``InvalidInputError`` naming it.
    Reverts raise ``RevertError`` carrying the revert reason.
    """

    @property
    @abstractmethod
    def chain_id(self) -> int:
        """The EIP-155 chain id (31337 for the embedded and anvil dev chains)."""

    @property
    @abstractmethod
    def description(self) -> str:
        """Human-readable description, e.g. ``embedded (/home/u/.ailedger/chain)``."""

    @abstractmethod
    def block_number(self) -> int:
        """Number of the latest mined block."""

    @abstractmethod
    def get_block(self, number: int) -> BlockInfo:
        """Block ``number``; ``NotFoundError`` if it does not exist (yet)."""

    @abstractmethod
    def balance(self, address: str) -> int:
        """Native balance in wei."""

    @abstractmethod
    def nonce(self, address: str) -> int:
        """How many transactions ``address`` has sent (its next nonce)."""

    @abstractmethod
    def code(self, address: str) -> bytes:
        """The runtime bytecode at ``address`` (empty for an account without code)."""

    @abstractmethod
    def call(self, to: str, data: bytes, *, sender: str | None = None, value: int = 0) -> bytes:
        """Execute a read-only call against the latest block; return the raw output."""

    @abstractmethod
    def send_transaction(
        self,
        signer: LocalAccount,
        to: str | None,
        data: bytes = b"",
        *,
        value: int = 0,
        gas: int | None = None,
    ) -> bytes:
        """Sign locally and submit; return the transaction hash.

        ``to=None`` deploys ``data`` as init code. A transaction that would revert
        raises ``RevertError`` before it is sent (gas estimation runs it first).
        """

    @abstractmethod
    def wait_for_receipt(self, tx_hash: bytes, timeout: float = 60.0) -> Receipt:
        """The receipt of ``tx_hash`` once mined; ``ChainError`` after ``timeout`` seconds."""

    def transact(
        self,
        signer: LocalAccount,
        to: str | None,
        data: bytes = b"",
        *,
        value: int = 0,
        gas: int | None = None,
    ) -> Receipt:
        """Send and wait; raise ``RevertError`` if the mined transaction failed."""
        from ailedger.errors import RevertError

        receipt = self.wait_for_receipt(
            self.send_transaction(signer, to, data, value=value, gas=gas)
        )
        if not receipt.status:
            raise RevertError(f"transaction 0x{receipt.tx_hash.hex()} failed on chain")
        return receipt

    @abstractmethod
    def get_logs(
        self,
        *,
        address: str | Sequence[str] | None = None,
        topics: Sequence[bytes | Sequence[bytes] | None] | None = None,
        from_block: int = 0,
        to_block: int | None = None,
    ) -> list[LogEntry]:
        """Logs matching an ``eth_getLogs``-style filter, in chain order."""

    def new_blocks(
        self, *, from_block: int | None = None, poll_interval: float = 0.5
    ) -> Iterator[BlockInfo]:
        """Yield each new block as it is mined (from ``from_block``, default the next one).

        Polling (rather than a push subscription) works the same for a node over HTTP
        and for an embedded chain written to by other processes. The starting point is
        fixed now, not at the first ``next()``: blocks mined in between are yielded too.
        """
        next_number = self.block_number() + 1 if from_block is None else from_block

        def poll() -> Iterator[BlockInfo]:
            number = next_number
            while True:
                if number <= self.block_number():
                    yield self.get_block(number)
                    number += 1
                else:
                    time.sleep(poll_interval)

        return poll()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and connections."""
