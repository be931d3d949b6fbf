"""EVM chains for ailedger: one interface, an embedded chain and any JSON-RPC node.

Choose with :func:`open_chain` (embedded unless ``settings.chain_url`` is set);
talk to contracts through :class:`Contract` / :func:`deploy`; keep track of
deployments with :class:`AddressBook` / :func:`ensure_deployed`.
"""

from __future__ import annotations

from ailedger.config import Settings
from ailedger.core.chain.accounts import DEV_MNEMONIC, dev_accounts
from ailedger.core.chain.base import BlockInfo, Chain, LogEntry, Receipt
from ailedger.core.chain.contract import Contract, ContractFunction, Event, deploy
from ailedger.core.chain.deployments import AddressBook, Deployment, ensure_deployed
from ailedger.core.chain.embedded import DEFAULT_CHAIN_ID, EmbeddedChain
from ailedger.core.chain.revert import decode_revert_reason
from ailedger.core.chain.rpc import RpcChain
from ailedger.core.chain.validation import check_amount, to_checksum


def open_chain(settings: Settings, *, read_only: bool = False) -> Chain:
    """The chain ``settings`` describe: ``RpcChain(settings.chain_url)`` or an embedded chain
    persisted in ``settings.chain_dir``.

    ``read_only``: write nothing to the data dir (an auditor's read-only copy); an
    embedded chain that is not there is a :class:`NotFoundError` saying which chain
    to point at, never a new chain.
    """
    if settings.chain_url:
        return RpcChain(settings.chain_url)
    if read_only:
        return EmbeddedChain(settings.chain_dir, read_only=True)
    settings.ensure_home()
    return EmbeddedChain(settings.chain_dir)


__all__ = [
    "DEFAULT_CHAIN_ID",
    "DEV_MNEMONIC",
    "AddressBook",
    "BlockInfo",
    "Chain",
    "Contract",
    "ContractFunction",
    "Deployment",
    "EmbeddedChain",
    "Event",
    "LogEntry",
    "Receipt",
    "RpcChain",
    "check_amount",
    "decode_revert_reason",
    "deploy",
    "dev_accounts",
    "ensure_deployed",
    "open_chain",
    "to_checksum",
]
