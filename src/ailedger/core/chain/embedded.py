"""``EmbeddedChain``: an in-process EVM (py-evm, Prague rules) persisted in one SQLite file.

Automine: each :meth:`EmbeddedChain.send_transaction` executes the transaction
in a new block on top of the current head, and the block -- state, header,
body, receipts and our log/transaction indexes -- is committed in one SQLite
transaction before the hash is returned (see :mod:`._store` for durability).
A transaction that fails is never mined: the block being built is dropped and
``RevertError`` carries the decoded reason.

The transaction is executed exactly once. Instead of estimating gas first (which
re-executes it, several times for a binary search), it is signed with a gas
limit of everything the sender can afford up to the block gas limit; only the
gas actually used is charged. py-evm's own ``MiningChain`` is bypassed for the
same reason: it rebuilds the transaction trie and re-validates the block per
transaction.

Several processes (or instances) may open the same chain directory: writers
take SQLite's write lock and build on the head they read under it, and readers
see each committed block.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from eth import EVM_RECURSION_LIMIT, constants
from eth._utils.address import generate_contract_address
from eth.abc import BlockHeaderAPI, ComputationAPI, ReceiptAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.consensus.context import ConsensusContext
from eth.db.chain import ChainDB
from eth.exceptions import HeaderNotFound, Revert
from eth.vm.chain_context import ChainContext
from eth.vm.forks import PragueVM
from eth_account.signers.local import LocalAccount
from eth_keys import keys
from eth_utils import to_checksum_address

from ailedger.core.chain._store import ChainStore, LogRow, create_file_atomically
from ailedger.core.chain.accounts import DEV_BALANCE_WEI, dev_accounts
from ailedger.core.chain.base import BlockInfo, Chain, LogEntry, Receipt
from ailedger.core.chain.revert import decode_revert_reason
from ailedger.core.chain.validation import (
    check_amount,
    check_data,
    check_signer,
    to_address_bytes,
)
from ailedger.errors import (
    ChainError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    RevertError,
)

# py_ecc (imported by eth_account and py-evm) raises the recursion limit to 100,000,
# where C-level recursion (json.loads of a body nested 100,000 deep) overflows the C
# stack and the process dies of SIGSEGV. py-evm needs 1024 EVM call frames, which is
# EVM_RECURSION_LIMIT; deeper recursion then raises RecursionError instead.
sys.setrecursionlimit(EVM_RECURSION_LIMIT)

DEFAULT_CHAIN_ID = 31337
BLOCK_GAS_LIMIT = 30_000_000
_ZERO_ADDRESS = b"\x00" * 20
_VM = PragueVM


@lru_cache(maxsize=256)
def _private_key(secret: bytes) -> keys.PrivateKey:
    return keys.PrivateKey(secret)


@lru_cache(maxsize=65536)
def _checksum(address: bytes) -> str:
    return to_checksum_address(address)


class EmbeddedChain(Chain):
    """An EVM chain in this process whose state lives in ``<chain_dir>/chain.sqlite3``.

    On first open the chain is created with a post-merge genesis that funds the
    standard development accounts (:func:`dev_accounts`) with 10,000 ETH each.
    A file that exists but fails its integrity check raises ``IntegrityError``
    naming it; it is never reset.
    """

    def __init__(
        self,
        chain_dir: Path | str,
        *,
        chain_id: int | None = None,
        synchronous: str = "NORMAL",
        verify: bool = True,
        read_only: bool = False,
    ) -> None:
        if chain_id is not None and (
            isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0
        ):
            raise InvalidInputError(
                f"chain_id: expected a positive integer, got {chain_id!r}", field="chain_id"
            )
        self._dir = Path(chain_dir)
        path = self._dir / ChainStore.FILE_NAME
        self._lock = threading.RLock()
        if read_only and not path.exists():
            raise NotFoundError(
                f"no chain in {self._dir}: point AILEDGER_HOME at the operator's data dir, "
                "or AILEDGER_CHAIN_URL at the chain its records were anchored on (or run "
                "`ailedger demo` first to make one here)",
                field="chain_dir",
            )
        if not read_only:
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            leftovers = [p.name for p in self._dir.glob(f"{ChainStore.FILE_NAME}-*")]
            if leftovers:
                # A journal without its database: the chain file was deleted or moved.
                # Starting afresh here would silently reset the chain.
                raise IntegrityError(
                    f"chain data file {path} is missing but {', '.join(sorted(leftovers))} "
                    "remain; restore the file or remove the leftovers to start a new chain",
                    field="chain_dir",
                )
            create_file_atomically(
                path,
                lambda tmp: self._create(tmp, chain_id or DEFAULT_CHAIN_ID, synchronous),
            )
        self._store = ChainStore(path, synchronous=synchronous, read_only=read_only)
        try:
            if verify:
                self._store.quick_check()
            self._chain_id = self._read_chain_id(chain_id)
            self._chaindb = ChainDB(self._store.kv)
            self._context = ChainContext(self._chain_id)
            self._consensus = ConsensusContext(self._store.kv)
            self._verify_head()
        except BaseException:
            self._store.close()
            raise
        self._closed = False

    # -- creation and verification --------------------------------------------------

    @staticmethod
    def _create(path: Path, chain_id: int, synchronous: str) -> None:
        store = ChainStore(path, synchronous=synchronous)
        try:
            store.create_schema()
            store.begin_block()

            class _Genesis(MiningChain):
                vm_configuration = ((0, _VM),)

            _Genesis.chain_id = chain_id
            alloc = {
                bytes.fromhex(account.address[2:]): {
                    "balance": DEV_BALANCE_WEI,
                    "nonce": 0,
                    "code": b"",
                    "storage": {},
                }
                for account in dev_accounts(10)
            }
            params = {
                "coinbase": _ZERO_ADDRESS,
                "difficulty": constants.POST_MERGE_DIFFICULTY,
                "extra_data": b"",
                "gas_limit": BLOCK_GAS_LIMIT,
                "mix_hash": constants.POST_MERGE_MIX_HASH,
                "nonce": constants.POST_MERGE_NONCE,
                "timestamp": int(time.time()),
            }
            chain = _Genesis.from_genesis(store.kv, params, alloc)
            genesis = chain.get_canonical_head()
            store.set_meta("schema_version", "1")
            store.set_meta("chain_id", str(chain_id))
            store.set_meta("fork", _VM.fork)
            store.commit_block((0, genesis.hash, genesis.timestamp, b""), (), ())
        finally:
            store.close()

    def _read_chain_id(self, requested: int | None) -> int:
        stored = self._store.get_meta("chain_id")
        if stored is None:
            raise self._store.corrupted("no chain id recorded")
        if requested is not None and int(stored) != requested:
            raise InvalidInputError(
                f"chain_id: the chain in {self._store.path} has chain id {stored}, got {requested}",
                field="chain_id",
            )
        return int(stored)

    def _verify_head(self) -> None:
        """The head block's header and state root must exist and match the block index."""
        # One snapshot: another process may commit a block between two of these reads.
        with self._store.snapshot():
            self._verify_head_in_snapshot()

    def _verify_head_in_snapshot(self) -> None:
        try:
            head = self._chaindb.get_canonical_head()
        except (HeaderNotFound, KeyError, ValueError) as exc:
            raise self._store.corrupted(f"head block header missing: {exc}") from exc
        row = self._store.block_row(head.block_number)
        if row is None or row[1] != head.hash or self._store.head_number() != head.block_number:
            raise self._store.corrupted(
                f"block index does not match head block {head.block_number}"
            )
        if head.state_root != constants.BLANK_ROOT_HASH and not self._store.kv.exists(
            head.state_root
        ):
            raise self._store.corrupted(f"state root of head block {head.block_number} missing")

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Serialise access and turn SQLite failures into ailedger errors naming the file."""
        with self._lock:
            if self._closed:
                raise ChainError("the embedded chain is closed", field="chain_dir")
            try:
                yield
            except sqlite3.OperationalError as exc:
                raise self._store.unavailable(exc) from exc
            except sqlite3.DatabaseError as exc:
                raise self._store.corrupted(exc) from exc

    # -- reading ------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def description(self) -> str:
        return f"embedded ({self._dir})"

    @property
    def path(self) -> Path:
        """The SQLite file holding this chain."""
        return self._store.path

    def block_number(self) -> int:
        with self._guard():
            return self._store.head_number()

    def get_block(self, number: int) -> BlockInfo:
        with self._guard():
            row = self._store.block_row(number)
        if row is None:
            raise NotFoundError(f"block {number} does not exist on this chain", field="number")
        return BlockInfo(
            number=row[0],
            hash=row[1],
            timestamp=row[2],
            tx_hashes=tuple(row[3][i : i + 32] for i in range(0, len(row[3]), 32)),
        )

    def _head_state(self):  # -> StateAPI
        head = self._chaindb.get_canonical_head()
        return _VM.build_state(self._store.kv, head, self._context)

    def balance(self, address: str) -> int:
        raw = to_address_bytes(address)
        with self._guard():
            return self._head_state().get_balance(raw)

    def nonce(self, address: str) -> int:
        raw = to_address_bytes(address)
        with self._guard():
            return self._head_state().get_nonce(raw)

    def code(self, address: str) -> bytes:
        raw = to_address_bytes(address)
        with self._guard():
            return self._head_state().get_code(raw)

    def _next_header(self, parent: BlockHeaderAPI) -> BlockHeaderAPI:
        # Wall clock, but strictly after the parent: more than one block per second
        # runs ahead of the clock, as anvil's automine does.
        timestamp = max(int(time.time()), parent.timestamp + 1)
        return _VM.create_header_from_parent(
            parent,
            timestamp=timestamp,
            gas_limit=parent.gas_limit,
            coinbase=_ZERO_ADDRESS,
            mix_hash=os.urandom(32),  # stands in for the beacon chain's prevrandao
        )

    def _vm(self, header: BlockHeaderAPI) -> PragueVM:
        return _VM(header, self._chaindb, self._context, self._consensus)

    def call(self, to: str, data: bytes, *, sender: str | None = None, value: int = 0) -> bytes:
        target = to_address_bytes(to, "to")
        origin = _ZERO_ADDRESS if sender is None else to_address_bytes(sender, "sender")
        check_amount(value)
        data = check_data(data)
        with self._guard():
            header = self._next_header(self._chaindb.get_canonical_head())
            vm = self._vm(header)
            state = vm.state
            computation = vm.execute_bytecode(
                origin=origin,
                gas_price=0,
                gas=header.gas_limit,
                to=target,
                sender=origin,
                value=value,
                data=data,
                code=state.get_code(target),
            )
            # Nothing is persisted: the state object (and its journal) is dropped here.
        if computation.is_error:
            raise RevertError(_failure_reason(computation))
        return computation.output

    # -- writing ------------------------------------------------------------------------

    def send_transaction(
        self,
        signer: LocalAccount,
        to: str | None,
        data: bytes = b"",
        *,
        value: int = 0,
        gas: int | None = None,
    ) -> bytes:
        target = b"" if to is None else to_address_bytes(to, "to")
        check_amount(value)
        data = check_data(data)
        if gas is not None and (isinstance(gas, bool) or not isinstance(gas, int) or gas <= 0):
            raise InvalidInputError(f"gas: expected a positive integer, got {gas!r}", field="gas")
        key = _private_key(bytes(check_signer(signer).key))
        sender = key.public_key.to_canonical_address()
        with self._guard():
            if self._store.read_only:
                raise ChainError(
                    f"chain data file {self._store.path} is open read-only: cannot send "
                    "transactions",
                    field="chain_dir",
                )
            self._store.begin_block()
            try:
                return self._mine_one(key, sender, target, data, value, gas)
            except BaseException:
                self._store.rollback()
                raise

    def _mine_one(
        self,
        key: keys.PrivateKey,
        sender: bytes,
        to: bytes,
        data: bytes,
        value: int,
        gas: int | None,
    ) -> bytes:
        parent = self._chaindb.get_canonical_head()
        header = self._next_header(parent)
        vm = self._vm(header)
        state = vm.state
        balance = state.get_balance(sender)
        max_fee = 2 * header.base_fee_per_gas  # room for the base fee to rise, as wallets do
        intrinsic = _intrinsic_gas(to, data)
        if gas is not None and not intrinsic <= gas <= header.gas_limit:
            raise InvalidInputError(
                f"gas: expected between the intrinsic gas {intrinsic} and the block gas limit "
                f"{header.gas_limit}, got {gas}",
                field="gas",
            )
        affordable = (balance - value) // max_fee if balance >= value else -1
        needed_gas = intrinsic if gas is None else gas
        if affordable < needed_gas:
            raise InvalidInputError(
                f"insufficient balance: {_checksum(sender)} has {balance} wei, needs at least "
                f"{value + needed_gas * max_fee} wei (value {value} plus {needed_gas} gas at "
                f"{max_fee} wei/gas)",
                field="value",
            )
        if gas is None:
            gas = min(header.gas_limit, affordable)
        unsigned = vm.get_transaction_builder().new_unsigned_dynamic_fee_transaction(
            chain_id=self._chain_id,
            nonce=state.get_nonce(sender),
            max_priority_fee_per_gas=0,
            max_fee_per_gas=max_fee,
            gas=gas,
            to=to,
            value=value,
            data=data,
            access_list=(),
        )
        tx = unsigned.as_signed_transaction(key)
        new_header, receipts, computations = vm.apply_all_transactions([tx], header)
        computation = computations[0]
        if computation.is_error:
            reason = _failure_reason(computation)
            if gas == affordable and gas < header.gas_limit and "out of gas" in reason.lower():
                reason = (
                    f"out of gas with {gas} gas, all that {_checksum(sender)} can pay for; "
                    "insufficient balance"
                )
            raise RevertError(reason)
        block = vm.set_block_transactions_and_withdrawals(
            vm.get_block(), new_header, [tx], receipts
        )
        mined = vm.mine_block(block).block
        self._chaindb.persist_block(mined)
        self._commit_index(mined.header, tx, sender, receipts[0])
        return tx.hash

    def _commit_index(
        self,
        header: BlockHeaderAPI,
        tx: SignedTransactionAPI,
        sender: bytes,
        receipt: ReceiptAPI,
    ) -> None:
        """Write the block's index rows and COMMIT it with py-evm's buffered writes."""
        number = header.block_number
        created = generate_contract_address(sender, tx.nonce) if not tx.to else None
        logs: list[LogRow] = []
        for index, log in enumerate(receipt.logs):
            topics = [t.to_bytes(32, "big") for t in log.topics] + [None] * (4 - len(log.topics))
            logs.append((number, index, tx.hash, log.address, *topics, log.data))
        self._store.commit_block(
            (number, header.hash, header.timestamp, tx.hash),
            [(tx.hash, number, 0, 1, receipt.gas_used, created)],
            logs,
        )

    def wait_for_receipt(self, tx_hash: bytes, timeout: float = 60.0) -> Receipt:
        """Return the receipt at once: an embedded transaction is mined when sent."""
        with self._guard():
            row = self._store.tx_row(bytes(tx_hash))
            if row is None:
                raise NotFoundError(
                    f"transaction 0x{bytes(tx_hash).hex()} is not on this chain", field="tx_hash"
                )
            _, number, _, status, gas_used, created = row
            logs = tuple(_log_entry(r) for r in self._store.logs_of_block(number) if r[2] == row[0])
        return Receipt(
            tx_hash=row[0],
            block_number=number,
            status=bool(status),
            gas_used=gas_used,
            contract_address=None if created is None else _checksum(created),
            logs=logs,
        )

    # -- logs and blocks ----------------------------------------------------------------

    def get_logs(
        self,
        *,
        address: str | Sequence[str] | None = None,
        topics: Sequence[bytes | Sequence[bytes] | None] | None = None,
        from_block: int = 0,
        to_block: int | None = None,
    ) -> list[LogEntry]:
        addresses = _normalise_addresses(address)
        topic_filter = _normalise_topics(topics)
        _check_block_range(from_block, to_block)
        with self._guard():
            last = self._store.head_number() if to_block is None else to_block
            rows = self._store.query_logs(addresses, topic_filter, from_block, last)
        return [_log_entry(r) for r in rows]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._store.close()

    def __enter__(self) -> EmbeddedChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- helpers ------------------------------------------------------------------------------


def _intrinsic_gas(to: bytes, data: bytes) -> int:
    zeros = data.count(0)
    gas = 21_000 + 4 * zeros + 16 * (len(data) - zeros)
    if not to:
        gas += 32_000 + 2 * ((len(data) + 31) // 32)  # creation + EIP-3860 initcode words
    return gas


def _failure_reason(computation: ComputationAPI) -> str:
    error = computation.error
    if isinstance(error, Revert):
        return decode_revert_reason(computation.output)
    return str(error) or type(error).__name__


def _log_entry(row: LogRow) -> LogEntry:
    number, index, tx_hash, address, t0, t1, t2, t3, data = row
    return LogEntry(
        address=_checksum(address),
        topics=tuple(t for t in (t0, t1, t2, t3) if t is not None),
        data=data,
        block_number=number,
        tx_hash=tx_hash,
        log_index=index,
    )


def _normalise_addresses(address: str | Sequence[str] | None) -> list[bytes] | None:
    if address is None:
        return None
    if isinstance(address, str | bytes):
        return [to_address_bytes(address, "address")]
    return [to_address_bytes(a, "address") for a in address]


def _normalise_topics(
    topics: Sequence[bytes | Sequence[bytes] | None] | None,
) -> list[list[bytes] | None]:
    if topics is None:
        return []
    if len(topics) > 4:
        raise InvalidInputError(
            f"topics: expected at most 4 positions, got {len(topics)}", field="topics"
        )
    result: list[list[bytes] | None] = []
    for position, option in enumerate(topics):
        if option is None:
            result.append(None)
            continue
        options = [option] if isinstance(option, bytes | bytearray) else list(option)
        for topic in options:
            if not isinstance(topic, bytes | bytearray) or len(topic) != 32:
                raise InvalidInputError(
                    f"topics[{position}]: expected 32-byte values, got {topic!r}", field="topics"
                )
        result.append([bytes(t) for t in options])
    return result


def _check_block_range(from_block: int, to_block: int | None) -> None:
    if isinstance(from_block, bool) or not isinstance(from_block, int) or from_block < 0:
        raise InvalidInputError(
            f"from_block: expected a non-negative integer, got {from_block!r}", field="from_block"
        )
    if to_block is not None and (
        isinstance(to_block, bool) or not isinstance(to_block, int) or to_block < from_block
    ):
        raise InvalidInputError(
            f"to_block: expected an integer >= from_block ({from_block}), got {to_block!r}",
            field="to_block",
        )


__all__ = ["BLOCK_GAS_LIMIT", "DEFAULT_CHAIN_ID", "EmbeddedChain"]
