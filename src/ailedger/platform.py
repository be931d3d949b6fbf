"""The composition root: opens the engines the settings choose, in one place.

Domains receive what they need (a ``Chain``, a log, a blob store) from here
rather than choosing engines themselves, so the same domain code runs on the
embedded defaults and on real engines (Flower's split of *what* from *where*).

Example::

    >>> platform = Platform.open(Settings(home="/tmp/ailedger-demo"))  # doctest: +SKIP
    >>> platform.status().chain_id  # doctest: +SKIP
    31337
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from eth_account.signers.local import LocalAccount

from ailedger import contracts
from ailedger.config import Settings
from ailedger.core.chain import (
    AddressBook,
    Chain,
    Contract,
    dev_accounts,
    ensure_deployed,
    open_chain,
)
from ailedger.core.identity import Keystore
from ailedger.core.log import Anchorer, BatchPolicy, TransparencyLog, log_name, open_store
from ailedger.core.trust import bind_identity
from ailedger.errors import ChainError, IntegrityError, NotFoundError

OPERATOR_KEY = "operator"
LOG_SIGNER_KEY = "log-signer"
DEV_CHAIN_ID = 31337
OPERATOR_FUNDING_WEI = 1_000 * 10**18
ZERO_ADDRESS = "0x" + "00" * 20

# The platform's own contracts, in deployment order, with their constructor arguments.
CORE_CONTRACTS: tuple[str, ...] = ("ALTToken", "AnchorRegistry")


@dataclass(frozen=True)
class DeployedContract:
    """One core contract after :meth:`Platform.deploy_core_contracts`."""

    name: str
    address: str
    reused: bool


@dataclass(frozen=True)
class ChainStatus:
    """What `ailedger chain status`, `/chain` and the dashboard show."""

    description: str
    chain_id: int
    head_block: int
    head_timestamp: int
    contracts: dict[str, str]
    token_supply: int | None
    token_symbol: str | None


CHAIN_IDENTITY_FILE = "chain-identity.json"


def check_chain_identity(settings: Settings, chain: Chain, *, remember: bool = True) -> None:
    """Refuse a chain that is not the one this data dir was made on.

    A data dir remembers the chain id and genesis block hash of its chain (in
    ``chain-identity.json``, written on first use when ``remember``). A restarted dev
    node (anvil) at the same URL is a new chain: the contracts, anchors and payments
    the data dir refers to are gone, and redeploying over its state would mislead.
    """
    path = settings.home / CHAIN_IDENTITY_FILE
    identity = {"chain_id": chain.chain_id, "genesis_hash": "0x" + chain.get_block(0).hash.hex()}
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise IntegrityError(f"{path} is unreadable: {error}", field="home") from None
        if stored != identity:
            where = settings.chain_url or f"{settings.chain_dir} (embedded)"
            raise ChainError(
                f"this data dir belongs to a chain that no longer exists at {where} (chain "
                f"{stored.get('chain_id')}, genesis {stored.get('genesis_hash')}); use a new "
                "AILEDGER_HOME",
                field="chain_url",
            )
    elif remember:
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(identity) + "\n")
        os.replace(temporary, path)


class Platform:
    """One open data dir: its chain, address book and keystore."""

    def __init__(self, settings: Settings, chain: Chain) -> None:
        self.settings = settings
        self.chain = chain
        self.book = AddressBook(settings.deployments_file)
        self.keystore = Keystore(settings)

    @classmethod
    def open(cls, settings: Settings, *, read_only: bool = False) -> Platform:
        """Create the data dir if needed and open the chain ``settings`` names.

        ``read_only`` writes nothing to the data dir, for commands that only check
        (``log verify``): they then also run on a read-only copy of it.
        """
        if not read_only:
            settings.ensure_home()
        chain = open_chain(settings, read_only=read_only)
        try:
            check_chain_identity(settings, chain, remember=not read_only)
        except BaseException:
            chain.close()
            raise
        return cls(settings, chain)

    def close(self) -> None:
        """Close the chain (the platform holds nothing else open)."""
        self.chain.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def is_dev_chain(self) -> bool:
        """Whether this is a development chain (id 31337) whose accounts may be auto-funded."""
        return self.chain.chain_id == DEV_CHAIN_ID

    def account(self, name: str, *, create: bool = False, fund_wei: int = 0) -> LocalAccount:
        """Unlock the keystore account ``name``; on a dev chain, create and fund it if asked."""
        password = self._password()
        try:
            account = self.keystore.unlock(name, password)
        except NotFoundError:
            if not create:
                raise
            account = self.keystore.create(name, password)
        if fund_wei and self.is_dev_chain and self.chain.balance(account.address) < fund_wei // 2:
            self.chain.transact(dev_accounts(1)[0], account.address, value=fund_wei)
        return account

    @cached_property
    def operator(self) -> LocalAccount:
        """The account that deploys and administers the platform's contracts."""
        return self.account(OPERATOR_KEY, create=self.is_dev_chain, fund_wei=OPERATOR_FUNDING_WEI)

    def _password(self) -> str:
        if self.settings.password is None:
            raise NotFoundError(
                "no keystore password: set AILEDGER_PASSWORD", field="AILEDGER_PASSWORD"
            )
        return self.settings.password

    def deploy_core_contracts(
        self, on_progress: Callable[[str], None] | None = None
    ) -> list[DeployedContract]:
        """Deploy ALTToken and AnchorRegistry, or reuse those already deployed."""
        deployed = []
        for name in CORE_CONTRACTS:
            if on_progress:
                on_progress(name)
            artifact = contracts.load(name)
            contract, reused = ensure_deployed(
                self.chain,
                self.book,
                name,
                artifact.abi,
                artifact.bytecode,
                artifact.source_hash,
                (),
                self.operator,
            )
            deployed.append(DeployedContract(name, contract.address, reused))
        return deployed

    def contract(self, name: str) -> Contract:
        """A deployed contract by name, from the address book of this chain."""
        entry = self.book.get(self.chain.chain_id, name)
        if entry is None:
            raise NotFoundError(
                f"contract {name} is not deployed on chain {self.chain.chain_id}; "
                "run `ailedger demo` first",
                field="contract",
            )
        return Contract(self.chain, entry.address, contracts.load(name).abi)

    def open_log(
        self, name: str = "decisions", policy: BatchPolicy | None = None
    ) -> TransparencyLog:
        """The transparency log ``name``, anchoring in this chain's AnchorRegistry.

        The log's tree heads are signed by the keystore key ``log-signer`` (created
        on a dev chain); the operator registers the log and pays for anchors.
        """
        signer = self.account(LOG_SIGNER_KEY, create=self.is_dev_chain)
        anchorer = Anchorer.register(
            self.contract("AnchorRegistry"),
            name,
            admin=self.operator,
            signer=signer,
            sender=self.operator,
        )
        store = open_store(self.settings, name=name)
        # The log's identity is fixed at creation, signed by the operator (see core/trust.py).
        bind_identity(store, anchorer, name, self.operator)
        return TransparencyLog(store, anchorer=anchorer, policy=policy or BatchPolicy())

    def log_reader(self, name: str = "decisions") -> Anchorer:
        """A key-less anchorer of the operator's log ``name``: reads its anchored heads only.

        Needs no password and sends no transaction, so anyone with the data dir can
        verify the log (`ailedger log verify`). Raises :class:`NotFoundError` when the
        log was never registered in this chain's AnchorRegistry, and
        :class:`IntegrityError` when the address book's registry address holds other
        code than the AnchorRegistry.
        """
        registry = self.contract("AnchorRegistry")
        # The address comes from a file in the data dir; the anchored heads are evidence
        # only if the contract answering is really our registry.
        contracts.check_deployed_code(self.chain, "AnchorRegistry", registry.address)
        name32 = log_name(name)
        try:
            operator = self.keystore.address(OPERATOR_KEY)
        except NotFoundError:
            raise NotFoundError(
                f"no log named {name!r}: this data dir has no operator key; run `ailedger demo`",
                field="name",
            ) from None
        log_id = registry.compute_log_id(operator, name32)
        if registry.log_admin(log_id) == ZERO_ADDRESS:
            raise NotFoundError(
                f"no log named {name!r} is registered by the operator {operator} in the "
                f"AnchorRegistry at {registry.address}",
                field="name",
            )
        return Anchorer(registry, log_id)

    def status(self) -> ChainStatus:
        """Chain id, head block, deployed contracts and ALT supply, read from the chain."""
        head = self.chain.block_number()
        block = self.chain.get_block(head)
        deployed = {
            name: entry.address for name, entry in self.book.all(self.chain.chain_id).items()
        }
        supply = symbol = None
        if "ALTToken" in deployed:
            token = self.contract("ALTToken")
            supply, symbol = token.totalSupply(), token.symbol()
        return ChainStatus(
            description=self.chain.description,
            chain_id=self.chain.chain_id,
            head_block=head,
            head_timestamp=block.timestamp,
            contracts=deployed,
            token_supply=supply,
            token_symbol=symbol,
        )
