"""``RpcChain``: any EVM node over JSON-RPC (web3.py), transactions signed locally.

Transactions are EIP-1559 (type 2), signed with the caller's ``LocalAccount``
and sent raw, so the node never holds a key. Gas is estimated first, which also
runs the transaction: a revert surfaces as ``RevertError`` with the decoded
reason before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3
from web3.exceptions import (
    BlockNotFound,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)

from ailedger.core.chain.base import BlockInfo, Chain, LogEntry, Receipt
from ailedger.core.chain.revert import decode_revert_reason
from ailedger.core.chain.validation import check_amount, check_data, check_signer, to_checksum
from ailedger.errors import ChainError, InvalidInputError, NotFoundError, RevertError

GAS_MARGIN = 1.2  # headroom over the estimate: the 63/64 rule can make estimates tight


class RpcChain(Chain):
    """An EVM node reached at ``url``; unreachable raises ``ChainError`` naming the URL."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"chain_url: expected an http:// or https:// URL, got {url!r}", field="chain_url"
            )
        self._url = url
        self._session = requests.Session()
        # No automatic retries: an unreachable node should fail fast with its URL named.
        self._w3 = Web3(
            HTTPProvider(
                url,
                request_kwargs={"timeout": timeout},
                session=self._session,
                exception_retry_configuration=None,
            )
        )
        with self._rpc():
            self._chain_id = int(self._w3.eth.chain_id)

    @contextmanager
    def _rpc(self) -> Iterator[None]:
        """Turn transport and node errors into ``ChainError`` naming the URL."""
        try:
            yield
        except (requests.ConnectionError, requests.Timeout, OSError) as exc:
            raise ChainError(
                f"cannot reach the chain at {self._url}: {type(exc).__name__}", field="chain_url"
            ) from exc
        except ContractLogicError as exc:
            raise RevertError(_reason(exc)) from exc
        except Web3RPCError as exc:
            raise ChainError(f"the chain at {self._url} refused the request: {exc}") from exc

    # -- reading ----------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def description(self) -> str:
        return f"JSON-RPC ({self._url})"

    @property
    def web3(self) -> Web3:
        """The underlying web3 instance, for tools that need raw RPC (tests, benchmarks)."""
        return self._w3

    def block_number(self) -> int:
        with self._rpc():
            return int(self._w3.eth.block_number)

    def get_block(self, number: int) -> BlockInfo:
        with self._rpc():
            try:
                block = self._w3.eth.get_block(number)
            except BlockNotFound as exc:
                raise NotFoundError(
                    f"block {number} does not exist on this chain", field="number"
                ) from exc
        return BlockInfo(
            number=int(block["number"]),
            hash=bytes(block["hash"]),
            timestamp=int(block["timestamp"]),
            tx_hashes=tuple(bytes(h) for h in block["transactions"]),
        )

    def balance(self, address: str) -> int:
        checksummed = to_checksum(address)
        with self._rpc():
            return int(self._w3.eth.get_balance(checksummed))

    def nonce(self, address: str) -> int:
        checksummed = to_checksum(address)
        with self._rpc():
            return int(self._w3.eth.get_transaction_count(checksummed))

    def code(self, address: str) -> bytes:
        checksummed = to_checksum(address)
        with self._rpc():
            return bytes(self._w3.eth.get_code(checksummed))

    def call(self, to: str, data: bytes, *, sender: str | None = None, value: int = 0) -> bytes:
        tx: dict[str, Any] = {"to": to_checksum(to, "to"), "data": check_data(data)}
        if sender is not None:
            tx["from"] = to_checksum(sender, "sender")
        if check_amount(value):
            tx["value"] = value
        with self._rpc():
            return bytes(self._w3.eth.call(tx))

    # -- writing ----------------------------------------------------------------------

    def send_transaction(
        self,
        signer: LocalAccount,
        to: str | None,
        data: bytes = b"",
        *,
        value: int = 0,
        gas: int | None = None,
    ) -> bytes:
        check_signer(signer)
        tx: dict[str, Any] = {
            "from": signer.address,
            "data": check_data(data),
            "value": check_amount(value),
            "chainId": self._chain_id,
        }
        if to is not None:
            tx["to"] = to_checksum(to, "to")
        if gas is not None and (isinstance(gas, bool) or not isinstance(gas, int) or gas <= 0):
            raise InvalidInputError(f"gas: expected a positive integer, got {gas!r}", field="gas")
        with self._rpc():
            eth = self._w3.eth
            # One HTTP round trip for the three reads (JSON-RPC batch).
            with self._w3.batch_requests() as batch:
                batch.add(eth.get_balance(signer.address))
                batch.add(eth.get_block("latest"))
                batch.add(eth.get_transaction_count(signer.address, "pending"))
                raw_balance, latest, raw_nonce = batch.execute()
            balance = int(raw_balance)  # type: ignore[call-overload]
            if balance < value:
                raise _insufficient(signer.address, balance, value, 0, 0)
            # Room for the base fee to double before inclusion; no tip needed on our nodes.
            tx["maxPriorityFeePerGas"] = 0
            tx["maxFeePerGas"] = 2 * int(latest["baseFeePerGas"])  # type: ignore[index]
            tx["nonce"] = int(raw_nonce)  # type: ignore[call-overload]
            if gas is None:
                # Estimation executes the transaction: a revert raises here, before sending.
                try:
                    gas = int(int(eth.estimate_gas(tx)) * GAS_MARGIN)
                except Web3RPCError as exc:
                    if "insufficient funds" in str(exc).lower():
                        raise _insufficient(
                            signer.address, balance, value, 21_000, tx["maxFeePerGas"]
                        ) from exc
                    raise
            tx["gas"] = gas
            if balance < value + gas * tx["maxFeePerGas"]:
                raise _insufficient(signer.address, balance, value, gas, tx["maxFeePerGas"])
            tx.pop("from")
            signed = signer.sign_transaction(tx)
            try:
                return bytes(eth.send_raw_transaction(signed.raw_transaction))
            except Web3RPCError as exc:
                message = str(exc).lower()
                if "intrinsic gas" in message or "gas too low" in message:
                    raise InvalidInputError(
                        f"gas: {gas} is below what this transaction needs ({exc})", field="gas"
                    ) from exc
                if "insufficient funds" in message:
                    fee = tx["maxFeePerGas"]
                    raise _insufficient(signer.address, balance, value, gas, fee) from exc
                raise

    def wait_for_receipt(self, tx_hash: bytes, timeout: float = 60.0) -> Receipt:
        with self._rpc():
            try:
                raw = self._w3.eth.wait_for_transaction_receipt(
                    bytes(tx_hash), timeout=timeout, poll_latency=0.05
                )
            except (TimeExhausted, TransactionNotFound) as exc:
                raise NotFoundError(
                    f"transaction 0x{bytes(tx_hash).hex()} has no receipt after {timeout} s",
                    field="tx_hash",
                ) from exc
        address = raw.get("contractAddress")
        return Receipt(
            tx_hash=bytes(raw["transactionHash"]),
            block_number=int(raw["blockNumber"]),
            status=bool(raw["status"]),
            gas_used=int(raw["gasUsed"]),
            contract_address=None if address is None else to_checksum(address),
            logs=tuple(_log_entry(log) for log in raw["logs"]),
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
        if isinstance(from_block, bool) or not isinstance(from_block, int) or from_block < 0:
            raise InvalidInputError(
                f"from_block: expected a non-negative integer, got {from_block!r}",
                field="from_block",
            )
        if to_block is not None and (
            isinstance(to_block, bool) or not isinstance(to_block, int) or to_block < from_block
        ):
            raise InvalidInputError(
                f"to_block: expected an integer >= from_block ({from_block}), got {to_block!r}",
                field="to_block",
            )
        params: dict[str, Any] = {
            "fromBlock": from_block,
            "toBlock": "latest" if to_block is None else to_block,
        }
        if address is not None:
            params["address"] = (
                to_checksum(address)
                if isinstance(address, str)
                else [to_checksum(a) for a in address]
            )
        if topics:
            if len(topics) > 4:
                raise InvalidInputError(
                    f"topics: expected at most 4 positions, got {len(topics)}", field="topics"
                )
            params["topics"] = [_topic_param(i, t) for i, t in enumerate(topics)]
        with self._rpc():
            raw = self._w3.eth.get_logs(params)  # type: ignore[arg-type]
        return [_log_entry(log) for log in raw]

    def close(self) -> None:
        self._session.close()


def _reason(exc: ContractLogicError) -> str:
    data = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return decode_revert_reason(bytes.fromhex(data[2:]))
        except ValueError:
            pass
    message = str(exc.message or exc)
    return message.removeprefix("execution reverted: ").removeprefix("execution reverted")


def _insufficient(address: str, balance: int, value: int, gas: int, fee: int) -> InvalidInputError:
    return InvalidInputError(
        f"insufficient balance: {address} has {balance} wei, needs at least "
        f"{value + gas * fee} wei (value {value} plus {gas} gas at {fee} wei/gas)",
        field="value",
    )


def _topic_param(position: int, option: bytes | Sequence[bytes] | None) -> Any:
    if option is None:
        return None
    options = [option] if isinstance(option, bytes | bytearray) else list(option)
    for topic in options:
        if not isinstance(topic, bytes | bytearray) or len(topic) != 32:
            raise InvalidInputError(
                f"topics[{position}]: expected 32-byte values, got {topic!r}", field="topics"
            )
    hexes = ["0x" + bytes(t).hex() for t in options]
    return hexes[0] if len(hexes) == 1 else hexes


def _log_entry(log: Any) -> LogEntry:
    return LogEntry(
        address=to_checksum(log["address"]),
        topics=tuple(bytes(t) for t in log["topics"]),
        data=bytes(log["data"]),
        block_number=int(log["blockNumber"]),
        tx_hash=bytes(log["transactionHash"]),
        log_index=int(log["logIndex"]),
    )
