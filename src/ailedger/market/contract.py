"""``DataMarket``: the typed Python face of the DataMarket contract.

Arguments are validated here first, so a bad price or share is refused with an
``InvalidInputError`` naming the field before any transaction is signed; what
only the chain can know (an inactive listing, a forged acknowledgement, a
missing allowance) comes back as ``RevertError`` carrying the contract's reason.
Ids of created things are read from the transaction's events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ailedger import contracts
from ailedger.contracts.typed_data import (
    DELIVERY_TYPES,
    PERMIT_TYPES,
    alt_token_domain,
    data_market_domain,
)
from ailedger.core.chain import Contract, Receipt, deploy, ensure_deployed, to_checksum
from ailedger.core.chain.deployments import Deployment
from ailedger.core.identity import sign_typed
from ailedger.errors import InvalidInputError, NotFoundError
from ailedger.market.exchange import WrappedKey

if TYPE_CHECKING:
    from ailedger.platform import Platform

__all__ = [
    "CONTRACT_NAME",
    "DEFAULT_DELIVERY_WINDOW",
    "DEFAULT_DISPUTE_WINDOW",
    "DEFAULT_FEE_BPS",
    "MAX_BATCH",
    "MAX_FEE_BPS",
    "MAX_PRICE",
    "ContributorShare",
    "DataMarket",
    "Kind",
    "Listing",
    "OnChainDelivery",
    "Pool",
    "Purchase",
    "Status",
    "check_terms",
    "open_market",
]

CONTRACT_NAME = "DataMarket"
MAX_PRICE = 1_000_000 * 10**18
MAX_FEE_BPS = 1_000
MAX_QUALITY_BPS = 10_000
MAX_RECORDS = 1_000_000
MAX_BATCH = 256
DEFAULT_FEE_BPS = 250
DEFAULT_DELIVERY_WINDOW = 3 * 86_400
DEFAULT_DISPUTE_WINDOW = 86_400
ORDER_VALIDITY = 3_600  # seconds a signed order (and its permit) may wait to be mined
_ZERO32 = b"\0" * 32


class Kind(IntEnum):
    """What a purchase buys."""

    ACCESS = 0
    COMPUTE = 1


class Status(IntEnum):
    """Where a purchase's payment is: escrowed, delivered (dispute window), refunded, settled."""

    ESCROWED = 1
    DELIVERED = 2
    REFUNDED = 3
    SETTLED = 4


@dataclass(frozen=True)
class Listing:
    """A listing's on-chain terms (prices in ALT wei)."""

    listing_id: int
    seller: str
    pool_id: int  # 0 when the seller sells its own dataset
    active: bool
    price: int
    compute_price: int  # 0 when compute-to-data is not offered
    commitment: bytes
    key_hash: bytes  # keccak256 of the key that opens the blob at ``commitment``
    license_hash: bytes


@dataclass(frozen=True)
class Purchase:
    """A purchase's on-chain state.

    ``deadline`` is the delivery deadline while escrowed (reclaimable after it) and the
    end of the dispute window once delivered. ``delivery_key`` is set while escrowed,
    ``delivery_hash`` once delivered.
    """

    purchase_id: int
    listing_id: int
    buyer: str
    kind: Kind
    status: Status
    amount: int
    fee_bps: int
    fee_recipient: str
    deadline: int
    delivery_key: str
    delivery_hash: bytes


@dataclass(frozen=True)
class OnChainDelivery:
    """What the seller posted in ``deliver`` (from its ``Delivered`` event)."""

    purchase_id: int
    wrapped: WrappedKey
    content: bytes
    key_hash: bytes
    delivery_hash: bytes
    dispute_deadline: int


@dataclass(frozen=True)
class Pool:
    """A pool's on-chain state; ``revenue`` is everything its sales paid its contributors."""

    pool_id: int
    curator: str
    metadata_hash: bytes
    total_shares: int
    contributors: int
    revenue: int
    open_sales: int  # bought, not yet settled or refunded: shares are frozen while above 0


@dataclass(frozen=True)
class ContributorShare:
    """A contributor's record count and quality weight, as the curator records it."""

    address: str
    records: int
    quality_bps: int = MAX_QUALITY_BPS

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", to_checksum(self.address, "contributor"))
        _check_int("records", self.records, 1, MAX_RECORDS)
        _check_int("quality_bps", self.quality_bps, 1, MAX_QUALITY_BPS)


def _check_int(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(
            f"{field}: expected an integer, got {type(value).__name__}", field=field
        )
    if not low <= value <= high:
        raise InvalidInputError(f"{field}: expected {low}..{high}, got {value}", field=field)
    return value


def check_terms(price: object, compute_price: object = 0, pool_id: object = 0) -> None:
    """Refuse listing terms the contract would revert on, naming the field."""
    _check_int("price", price, 1, MAX_PRICE)
    _check_int("compute_price", compute_price, 0, MAX_PRICE)
    _check_int("pool_id", pool_id, 0, 2**64 - 1)


def _check_bytes32(field: str, value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32 or value == _ZERO32:
        raise InvalidInputError(f"{field}: expected 32 non-zero bytes, got {value!r}", field=field)
    return value


class DataMarket:
    """The DataMarket contract at ``contract.address``, paid in the ALTToken ``token``."""

    def __init__(self, contract: Contract, token: Contract) -> None:
        self.contract = contract
        self.token = token
        self.chain = contract.chain
        self.address = contract.address

    # --- reading ----------------------------------------------------------------------------

    def listing(self, listing_id: int) -> Listing:
        """A listing by id (``RevertError`` "listing: unknown listing" if there is none)."""
        return Listing(listing_id, *self.contract.listing(listing_id))

    def listings(self) -> list[Listing]:
        """Every listing, by id."""
        return [self.listing(i) for i in range(1, self.contract.listing_count() + 1)]

    def purchase(self, purchase_id: int) -> Purchase:
        """A purchase by id (``RevertError`` "purchase: unknown purchase" if there is none)."""
        listing_id, buyer, kind, status, *rest = self.contract.purchase(purchase_id)
        return Purchase(purchase_id, listing_id, buyer, Kind(kind), Status(status), *rest)

    def purchases(self) -> list[Purchase]:
        """Every purchase, by id."""
        return [self.purchase(i) for i in range(1, self.contract.purchase_count() + 1)]

    def pool(self, pool_id: int) -> Pool:
        """A pool by id (``RevertError`` "pool: unknown pool" if there is none)."""
        curator, metadata_hash, total_shares, contributors, revenue, _, _, open_sales = (
            self.contract.pool(pool_id)
        )
        return Pool(
            pool_id, curator, metadata_hash, total_shares, contributors, revenue, open_sales
        )

    def pools(self) -> list[Pool]:
        """Every pool, by id."""
        return [self.pool(i) for i in range(1, self.contract.pool_count() + 1)]

    def contributors(self, pool_id: int) -> list[str]:
        """Addresses holding a share in the pool now, in the order they first joined."""
        current: dict[str, int] = {}
        for event in self.contract.get_events("ShareChanged"):
            if event.args["pool_id"] == pool_id:
                current[event.args["contributor"]] = event.args["shares"]
        return [address for address, shares in current.items() if shares > 0]

    def earned(self, pool_id: int, account: str) -> int:
        """ALT (wei) earned in the pool and not yet claimed."""
        return self.contract.earned(pool_id, to_checksum(account, "account"))

    def claimed(self, pool_id: int, account: str) -> int:
        """ALT (wei) of pool earnings already moved to the balance."""
        return self.contract.contributor(pool_id, to_checksum(account, "account"))[4]

    def balance_of(self, account: str) -> int:
        """ALT (wei) credited and withdrawable."""
        return self.contract.balance_of(to_checksum(account, "account"))

    def has_access(self, listing_id: int, buyer: str) -> bool:
        """Whether ``buyer`` holds an escrowed or delivered access purchase of the listing."""
        return self.contract.has_access(listing_id, to_checksum(buyer, "buyer"))

    # --- pools ------------------------------------------------------------------------------

    def create_pool(self, curator: LocalAccount, metadata_hash: bytes) -> int:
        """Create a pool curated by ``curator``; return its id."""
        _check_bytes32("metadata_hash", metadata_hash)
        receipt = self.contract.create_pool(metadata_hash, sender=curator)
        return self._created(receipt, "PoolCreated", "pool_id")

    def join(self, curator: LocalAccount, pool_id: int, shares: Sequence[ContributorShare]) -> int:
        """Record every share (batches of MAX_BATCH per transaction); return gas used."""
        gas = 0
        for start in range(0, len(shares), MAX_BATCH):
            batch = shares[start : start + MAX_BATCH]
            receipt = self.contract.join_many(
                pool_id,
                [s.address for s in batch],
                [s.records for s in batch],
                [s.quality_bps for s in batch],
                sender=curator,
            )
            gas += receipt.gas_used
        return gas

    def leave(self, contributor: LocalAccount, pool_id: int) -> Receipt:
        """The contributor leaves the pool; what it earned is credited to its balance."""
        return self.contract.leave(pool_id, sender=contributor)

    def claim_and_withdraw(self, contributor: LocalAccount, pool_id: int) -> int:
        """Move the contributor's pool earnings and balance to their wallet; return the amount."""
        receipt = self.contract.claim_and_withdraw(pool_id, sender=contributor)
        return self._withdrawn(receipt)

    def withdraw(self, account: LocalAccount) -> int:
        """Send the account's credited balance to its wallet; return the amount."""
        return self._withdrawn(self.contract.withdraw(sender=account))

    # --- listings ---------------------------------------------------------------------------

    def create_listing(
        self,
        seller: LocalAccount,
        *,
        commitment: bytes,
        key_hash: bytes,
        license_hash: bytes,
        price: int,
        compute_price: int = 0,
        pool_id: int = 0,
    ) -> int:
        """List a dataset; return its id. ``pool_id`` makes every sale pay the pool."""
        _check_bytes32("commitment", commitment)
        _check_bytes32("key_hash", key_hash)
        _check_bytes32("license_hash", license_hash)
        check_terms(price, compute_price, pool_id)
        receipt = self.contract.create_listing(
            commitment, key_hash, license_hash, price, compute_price, pool_id, sender=seller
        )
        return self._created(receipt, "ListingCreated", "listing_id")

    def set_active(self, seller: LocalAccount, listing_id: int, active: bool) -> Receipt:
        """Delist (``False``) or relist (``True``); only the seller may."""
        return self.contract.set_active(listing_id, active, sender=seller)

    # --- buying -----------------------------------------------------------------------------

    def price_of(self, listing_id: int, kind: Kind) -> int:
        """The listing's current price for ``kind`` (ALT wei)."""
        listing = self.listing(listing_id)
        return listing.price if kind == Kind.ACCESS else listing.compute_price

    def buy(
        self,
        buyer: LocalAccount,
        listing_id: int,
        kind: Kind,
        *,
        delivery_key: str,
        max_price: int | None = None,
    ) -> int:
        """Pay into escrow with a signed permit (no separate approval); return the purchase id.

        ``max_price`` defaults to the price read now, so a price raised before the
        transaction is mined reverts it ("buy: price above max_price").
        """
        max_price = self._max_price(listing_id, kind, max_price)
        deadline = self._order_deadline()
        domain = alt_token_domain(self.chain.chain_id, self.token.address)
        message = {
            "owner": buyer.address,
            "spender": self.address,
            "value": max_price,
            "nonce": self.token.nonces(buyer.address),
            "deadline": deadline,
        }
        signature = sign_typed(buyer, domain, "Permit", PERMIT_TYPES, message)
        receipt = self.contract.buy_with_permit(
            listing_id,
            int(kind),
            max_price,
            deadline,
            to_checksum(delivery_key, "delivery_key"),
            signature[64],
            signature[:32],
            signature[32:64],
            sender=buyer,
        )
        return self._created(receipt, "Purchased", "purchase_id")

    def buy_with_allowance(
        self,
        buyer: LocalAccount,
        listing_id: int,
        kind: Kind,
        *,
        delivery_key: str,
        max_price: int | None = None,
    ) -> int:
        """Pay into escrow from an allowance the buyer granted before."""
        receipt = self.contract.buy(
            listing_id,
            int(kind),
            self._max_price(listing_id, kind, max_price),
            self._order_deadline(),
            to_checksum(delivery_key, "delivery_key"),
            sender=buyer,
        )
        return self._created(receipt, "Purchased", "purchase_id")

    def purchase_event(self, purchase_id: int):
        """The ``Purchased`` event of a purchase (``NotFoundError`` if there is none)."""
        events = self._events("Purchased", purchase_id)
        if not events:
            raise NotFoundError(f"purchase {purchase_id} does not exist", field="purchase_id")
        return events[0]

    def delivery_keys_of(self, buyer: str) -> list[str]:
        """Every delivery key ``buyer`` named in a purchase of this market."""
        topic = bytes(12) + bytes.fromhex(to_checksum(buyer, "buyer")[2:])
        return [e.args["delivery_key"] for e in self._events("Purchased", None, None, topic)]

    def deliver(
        self,
        seller: LocalAccount,
        purchase_id: int,
        wrapped: WrappedKey,
        content: bytes,
        key_hash: bytes,
    ) -> Receipt:
        """Post the key wrapped to the buyer's delivery key and what it opens."""
        _check_bytes32("content", content)
        _check_bytes32("key_hash", key_hash)
        return self.contract.deliver(
            purchase_id,
            wrapped.ephemeral_x,
            wrapped.ephemeral_odd,
            wrapped.wrapped,
            content,
            key_hash,
            sender=seller,
        )

    def delivered(self, purchase_id: int) -> OnChainDelivery:
        """What was posted for the purchase (``NotFoundError`` if nothing was delivered)."""
        events = self._events("Delivered", purchase_id)
        if not events:
            raise NotFoundError(f"purchase {purchase_id} has no delivery", field="purchase_id")
        args = events[-1].args
        return OnChainDelivery(
            purchase_id,
            WrappedKey(args["ephemeral_x"], args["ephemeral_odd"], args["wrapped_key"]),
            args["content"],
            args["key_hash"],
            args["delivery_hash"],
            args["dispute_deadline"],
        )

    def listing_events(self) -> list:
        """Every ``ListingCreated`` event, in chain order."""
        return self._events("ListingCreated", None)

    def payment_events(self) -> list:
        """Every ``Settled`` and ``Refunded`` event, in chain order."""
        events = [*self._events("Settled", None), *self._events("Refunded", None)]
        return sorted(events, key=lambda e: (e.log.block_number, e.log.log_index))

    def dispute(self, buyer: LocalAccount, delivery: OnChainDelivery, secret: int) -> int:
        """Prove the delivered key wrong by revealing the delivery secret; return the refund."""
        receipt = self.contract.dispute(
            delivery.purchase_id,
            secret,
            delivery.wrapped.ephemeral_x,
            delivery.wrapped.ephemeral_odd,
            delivery.wrapped.wrapped,
            delivery.content,
            delivery.key_hash,
            sender=buyer,
        )
        return self.contract.decode_logs(receipt, "Refunded")[0].args["amount"]

    def settle(self, caller: LocalAccount, purchase_id: int) -> Receipt:
        """After the dispute window, release a delivered purchase's escrow (anyone may)."""
        return self.contract.settle(purchase_id, sender=caller)

    def sign_delivery(self, buyer: LocalAccount, purchase_id: int, delivery_hash: bytes) -> bytes:
        """The buyer's acknowledgement that ``delivery_hash`` was delivered for the purchase."""
        _check_bytes32("delivery_hash", delivery_hash)
        domain = data_market_domain(self.chain.chain_id, self.address)
        message = {"purchaseId": purchase_id, "deliveryHash": delivery_hash}
        return sign_typed(buyer, domain, "Delivery", DELIVERY_TYPES, message)

    def acknowledge_delivery(
        self, caller: LocalAccount, purchase_id: int, signature: bytes
    ) -> Receipt:
        """Release a delivered purchase's escrow early with the buyer's signed acknowledgement."""
        if not isinstance(signature, bytes) or len(signature) != 65:
            raise InvalidInputError("signature: expected 65 bytes", field="signature")
        return self.contract.acknowledge_delivery(purchase_id, signature, sender=caller)

    def reclaim(self, caller: LocalAccount, purchase_id: int) -> int:
        """After the deadline, credit an undelivered purchase back to its buyer; return it."""
        receipt = self.contract.reclaim(purchase_id, sender=caller)
        return self.contract.decode_logs(receipt, "Refunded")[0].args["amount"]

    # --- helpers ----------------------------------------------------------------------------

    def _max_price(self, listing_id: int, kind: Kind, max_price: int | None) -> int:
        if max_price is None:
            return self.price_of(listing_id, kind)  # what the buyer sees now
        return _check_int("max_price", max_price, 1, MAX_PRICE)

    def _order_deadline(self) -> int:
        return self.chain.get_block(self.chain.block_number()).timestamp + ORDER_VALIDITY

    def _events(
        self,
        name: str,
        purchase_id: int | None,
        listing_id: int | None = None,
        buyer_topic: bytes | None = None,
    ) -> list:
        """``name`` events filtered by their indexed purchase, listing and buyer topics."""
        entry = next(e for e in self.contract.abi if e.get("type") == "event" and e["name"] == name)
        signature = f"{name}({','.join(i['type'] for i in entry['inputs'])})"
        topics: list[bytes | None] = [keccak(text=signature)]
        for value in (purchase_id, listing_id):
            topics.append(None if value is None else value.to_bytes(32, "big"))
        topics.append(buyer_topic)
        while topics[-1] is None:  # a log with fewer topics than the filter never matches
            topics.pop()
        logs = self.chain.get_logs(address=self.address, topics=topics)
        return self.contract.decode_logs(logs, event=name)

    def _created(self, receipt: Receipt, event: str, field: str) -> int:
        return self.contract.decode_logs(receipt, event)[0].args[field]

    def _withdrawn(self, receipt: Receipt) -> int:
        return self.contract.decode_logs(receipt, "Withdrawn")[0].args["amount"]


def open_market(platform: Platform, *, deploy_if_missing: bool = False) -> DataMarket:
    """The platform's DataMarket; with ``deploy_if_missing``, deploy (or reuse) it first.

    Deploying needs the core contracts (the ALTToken it is paid in); the operator
    owns the market and receives its fee.
    """
    token = platform.contract("ALTToken")
    if not deploy_if_missing:
        entry = platform.book.get(platform.chain.chain_id, CONTRACT_NAME)
        if entry is None:
            raise NotFoundError(
                f"{CONTRACT_NAME} is not deployed on chain {platform.chain.chain_id}; "
                "run `ailedger demo` first",
                field="contract",
            )
        return DataMarket(platform.contract(CONTRACT_NAME), token)
    artifact = contracts.load(CONTRACT_NAME)
    operator = platform.operator
    args = (
        token.address,
        operator.address,
        DEFAULT_FEE_BPS,
        DEFAULT_DELIVERY_WINDOW,
        DEFAULT_DISPUTE_WINDOW,
    )
    contract, reused = ensure_deployed(
        platform.chain,
        platform.book,
        CONTRACT_NAME,
        artifact.abi,
        artifact.bytecode,
        artifact.source_hash,
        args,
        operator,
    )
    if reused and contract.token() != token.address:
        # The token was redeployed since: a market paid in the old token is of no use.
        contract = deploy(platform.chain, artifact.abi, artifact.bytecode, *args, sender=operator)
        block = contract.deploy_receipt.block_number if contract.deploy_receipt else 0
        platform.book.record(
            platform.chain.chain_id,
            CONTRACT_NAME,
            Deployment(contract.address, artifact.source_hash, block),
        )
    return DataMarket(contract, token)
