# pragma version ~=0.4.3
"""
@title AILedger DataMarket
@license Apache-2.0
@notice A marketplace for encrypted datasets, paid in ALT.
        Listings: a seller offers a dataset by its content commitment
        (the SHA-256 address of the encrypted blob), a commitment to the
        key that opens it (keccak256 of the key), a license-terms hash,
        a price for access and optionally a price for compute-to-data
        jobs. A buyer pays into escrow (allowance or EIP-2612 permit),
        bounded by its `max_price` and an order deadline, and names a
        fresh per-purchase delivery key (an address).
        Optimistic fair exchange: before the delivery deadline the
        seller posts on chain the content key XOR-encrypted to the
        buyer's delivery key (ECDH with an ephemeral key the seller
        posts) and what it opens (content and key commitment). The
        payment goes to the seller once the dispute window has passed,
        or at once with the buyer's signed acknowledgement; within the
        window the buyer may reveal its delivery key's secret, and the
        contract recomputes the shared secret with `ecrecover`, decrypts
        the posted key and refunds the buyer only if that key does not
        match its commitment. A delivered purchase cannot be reclaimed;
        an undelivered one is refunded after its deadline.
        Pools: a curator records contributors' shares (record count
        times a quality weight in basis points, records capped per
        contributor) and lists the pool's data; every sale credits all
        contributors in proportion to their shares through one
        accumulated revenue-per-share update, so a sale costs the same
        gas for 10 or 10,000 contributors. Shares cannot change while a
        sale of the pool is open (bought, not yet settled or refunded),
        so a sale pays exactly the shares in force when it was bought,
        and a pool without contributors cannot be bought from.
        The platform fee (bps, capped) and its recipient are fixed at
        purchase time. Payouts are pull payments: settlements credit
        balances here and only `withdraw` moves tokens out, to its
        caller. State is written before any token call
        (checks-effects-interactions) and every token-moving function
        is `nonreentrant`.
        Signed struct, under the domain ("AILedger DataMarket", "1",
        chainId, this contract):
        Delivery(uint256 purchaseId,bytes32 deliveryHash)
"""

from ethereum.ercs import IERC20

from snekmate.tokens.interfaces import IERC20Permit

from snekmate.utils.interfaces import IERC5267
implements: IERC5267

from snekmate.auth import ownable
initializes: ownable

from snekmate.utils import ecdsa

from snekmate.utils import eip712_domain_separator as eip712
initializes: eip712

exports: (
    eip712.eip712Domain,
    ownable.owner,
    ownable.transfer_ownership,
)


struct Listing:
    seller: address
    pool_id: uint256
    active: bool
    price: uint256
    compute_price: uint256
    commitment: bytes32
    key_hash: bytes32
    license_hash: bytes32

struct Purchase:
    listing_id: uint256
    buyer: address
    kind: uint8
    status: uint8
    amount: uint256
    fee_bps: uint256
    fee_recipient: address
    # Escrowed: the delivery deadline. Delivered: the end of the dispute window.
    deadline: uint64
    # Escrowed: the buyer's delivery key. Delivered and after: empty.
    delivery_key: address
    # Delivered and after: keccak256 of what was delivered (see `deliver`).
    delivery_hash: bytes32

struct Pool:
    curator: address
    metadata_hash: bytes32
    total_shares: uint256
    contributors: uint256
    revenue: uint256
    acc_per_share: uint256
    remainder: uint256
    # Sales bought and not yet settled or refunded; shares are frozen while above zero.
    open_sales: uint256

struct Contributor:
    shares: uint256
    records: uint256
    quality_bps: uint256
    # shares * acc_per_share at the last settlement, less the sub-wei
    # fraction still owed (scaled by PRECISION): pending = shares * acc - debt.
    debt: uint256
    claimed: uint256


# Every fresh storage slot costs 22,100 gas on the sale path, so a
# purchase is three slots, packed by hand.
struct _StoredListing:
    seller_pool_active: uint256  # seller | pool_id << 160 (64 bits) | active << 224
    prices: uint256  # price | compute_price << 128
    commitment: bytes32
    key_hash: bytes32
    license_hash: bytes32

struct _StoredPurchase:
    buyer_state: uint256  # buyer | kind << 160 | status << 168 | deadline << 176
    # amount (96 bits) | fee_bps << 96 | fee_epoch << 112 (64 bits) | listing_id << 176
    terms: uint256
    # Escrowed: the delivery key (an address). Delivered: the delivery hash.
    delivery: uint256


event ListingCreated:
    listing_id: indexed(uint256)
    seller: indexed(address)
    pool_id: indexed(uint256)
    commitment: bytes32
    key_hash: bytes32
    license_hash: bytes32
    price: uint256
    compute_price: uint256

event ListingRepriced:
    listing_id: indexed(uint256)
    price: uint256
    compute_price: uint256

event ListingActiveChanged:
    listing_id: indexed(uint256)
    active: bool

event Purchased:
    purchase_id: indexed(uint256)
    listing_id: indexed(uint256)
    buyer: indexed(address)
    kind: uint8
    amount: uint256
    fee_bps: uint256
    fee_recipient: address
    deadline: uint64
    delivery_key: address

event Delivered:
    purchase_id: indexed(uint256)
    listing_id: indexed(uint256)
    buyer: indexed(address)
    ephemeral_x: uint256
    ephemeral_odd: bool
    wrapped_key: bytes32
    content: bytes32
    key_hash: bytes32
    delivery_hash: bytes32
    dispute_deadline: uint64

event Settled:
    purchase_id: indexed(uint256)
    listing_id: indexed(uint256)
    buyer: indexed(address)
    delivery_hash: bytes32
    proceeds: uint256
    fee: uint256
    fee_recipient: address

event Refunded:
    purchase_id: indexed(uint256)
    buyer: indexed(address)
    amount: uint256
    # True when the buyer proved the delivered key wrong, False for an undelivered purchase.
    disputed: bool

event PoolCreated:
    pool_id: indexed(uint256)
    curator: indexed(address)
    metadata_hash: bytes32

event ShareChanged:
    pool_id: indexed(uint256)
    contributor: indexed(address)
    records: uint256
    quality_bps: uint256
    shares: uint256
    total_shares: uint256

event PoolRevenue:
    pool_id: indexed(uint256)
    purchase_id: indexed(uint256)
    amount: uint256
    acc_per_share: uint256

event EarningsClaimed:
    pool_id: indexed(uint256)
    contributor: indexed(address)
    amount: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256

event FeeChanged:
    previous_bps: uint256
    new_bps: uint256

event FeeRecipientChanged:
    previous_recipient: indexed(address)
    new_recipient: indexed(address)

event DeliveryWindowChanged:
    previous_seconds: uint64
    new_seconds: uint64

event DisputeWindowChanged:
    previous_seconds: uint64
    new_seconds: uint64


DELIVERY_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Delivery(uint256 purchaseId,bytes32 deliveryHash)"
)
MAX_PRICE: public(constant(uint256)) = 1_000_000 * 10**18
MAX_FEE_BPS: public(constant(uint256)) = 1_000
MAX_QUALITY_BPS: public(constant(uint256)) = 10_000
# One contributor (a patient, a device, a department) holds at most this many records of a
# pool: one address cannot outweigh a million honest records, and shares stay far from overflow.
MAX_RECORDS: public(constant(uint256)) = 1_000_000
MIN_DELIVERY_WINDOW: public(constant(uint64)) = 60
MAX_DELIVERY_WINDOW: public(constant(uint64)) = 90 * 86_400
MIN_DISPUTE_WINDOW: public(constant(uint64)) = 60
MAX_DISPUTE_WINDOW: public(constant(uint64)) = 30 * 86_400
MAX_BATCH: public(constant(uint256)) = 256
# Revenue per share is kept scaled by PRECISION; what does not divide
# evenly is carried to the next sale (`remainder`), so no wei is lost.
PRECISION: public(constant(uint256)) = 10**18

KIND_ACCESS: public(constant(uint8)) = 0
KIND_COMPUTE: public(constant(uint8)) = 1
STATUS_ESCROWED: public(constant(uint8)) = 1
STATUS_DELIVERED: public(constant(uint8)) = 2
STATUS_REFUNDED: public(constant(uint8)) = 3
STATUS_SETTLED: public(constant(uint8)) = 4

# secp256k1: the group order and the generator's x coordinate (its y is even).
SECP256K1_N: public(constant(uint256)) = (
    115792089237316195423570985008687907852837564279074904382605163141518161494337
)
_GX: constant(uint256) = (
    55066263022277343669578718895168534326250603453777594175500187360389116729240
)

token: public(immutable(address))
fee_bps: public(uint256)
delivery_window: public(uint64)
dispute_window: public(uint64)
# Every fee recipient ever set, by epoch; a purchase keeps the epoch in force when it was bought.
_fee_recipients: HashMap[uint256, address]
_fee_epoch: uint256

_listings: HashMap[uint256, _StoredListing]
_listing_count: uint256
_purchases: HashMap[uint256, _StoredPurchase]
_purchase_count: uint256
# listing id -> buyer -> (access purchase id + 1) while escrowed or delivered.
_access: HashMap[uint256, HashMap[address, uint256]]
_pools: HashMap[uint256, Pool]
_pool_count: uint256
_contributors: HashMap[uint256, HashMap[address, Contributor]]
_balances: HashMap[address, uint256]

_MASK_8: constant(uint256) = 2**8 - 1
_MASK_16: constant(uint256) = 2**16 - 1
_MASK_64: constant(uint256) = 2**64 - 1
_MASK_96: constant(uint256) = 2**96 - 1
_MASK_128: constant(uint256) = 2**128 - 1
_MASK_160: constant(uint256) = 2**160 - 1
_BPS: constant(uint256) = 10_000


@deploy
@payable
def __init__(
    token_: address,
    fee_recipient_: address,
    fee_bps_: uint256,
    window: uint64,
    dispute_window_: uint64,
):
    """
    @dev The deployer becomes `owner`. `payable` only to omit the
         callvalue check.
    @param token_ The ALTToken purchases are paid in.
    @param fee_recipient_ Who is credited the platform fee.
    @param fee_bps_ The platform fee in basis points, at most MAX_FEE_BPS.
    @param window Seconds a seller has to deliver before the buyer may reclaim.
    @param dispute_window_ Seconds a buyer has after a delivery to dispute it.
    """
    assert token_ != empty(address), "init: token is the zero address"
    assert fee_recipient_ != empty(address), "init: fee recipient is the zero address"
    assert fee_bps_ <= MAX_FEE_BPS, "init: fee above MAX_FEE_BPS"
    assert window >= MIN_DELIVERY_WINDOW and window <= MAX_DELIVERY_WINDOW, (
        "init: delivery window out of range"
    )
    assert dispute_window_ >= MIN_DISPUTE_WINDOW and dispute_window_ <= MAX_DISPUTE_WINDOW, (
        "init: dispute window out of range"
    )
    ownable.__init__()
    eip712.__init__("AILedger DataMarket", "1")
    token = token_
    self._fee_recipients[0] = fee_recipient_
    self.fee_bps = fee_bps_
    self.delivery_window = window
    self.dispute_window = dispute_window_


# --- administration ---------------------------------------------------------------------------


@external
def set_fee(new_bps: uint256):
    """
    @dev Sets the platform fee for future purchases; owner only.
    """
    ownable._check_owner()
    assert new_bps <= MAX_FEE_BPS, "set_fee: fee above MAX_FEE_BPS"
    log FeeChanged(previous_bps=self.fee_bps, new_bps=new_bps)
    self.fee_bps = new_bps


@external
def set_fee_recipient(new_recipient: address):
    """
    @dev Sets who is credited future fees; owner only.
    """
    ownable._check_owner()
    assert new_recipient != empty(address), "set_fee_recipient: zero address"
    epoch: uint256 = self._fee_epoch
    log FeeRecipientChanged(
        previous_recipient=self._fee_recipients[epoch], new_recipient=new_recipient
    )
    # A new epoch, so purchases already made keep the recipient of theirs.
    self._fee_epoch = epoch + 1
    self._fee_recipients[epoch + 1] = new_recipient


@external
def set_delivery_window(seconds: uint64):
    """
    @dev Sets the delivery deadline of future purchases; owner only.
    """
    ownable._check_owner()
    assert seconds >= MIN_DELIVERY_WINDOW and seconds <= MAX_DELIVERY_WINDOW, (
        "set_delivery_window: out of range"
    )
    log DeliveryWindowChanged(previous_seconds=self.delivery_window, new_seconds=seconds)
    self.delivery_window = seconds


@external
def set_dispute_window(seconds: uint64):
    """
    @dev Sets the dispute window of future deliveries; owner only.
    """
    ownable._check_owner()
    assert seconds >= MIN_DISPUTE_WINDOW and seconds <= MAX_DISPUTE_WINDOW, (
        "set_dispute_window: out of range"
    )
    log DisputeWindowChanged(previous_seconds=self.dispute_window, new_seconds=seconds)
    self.dispute_window = seconds


@external
@view
def fee_recipient() -> address:
    """
    @dev Who is credited the fee of purchases made from now on.
    """
    return self._fee_recipients[self._fee_epoch]


# --- listings ---------------------------------------------------------------------------------


@external
def create_listing(
    commitment: bytes32,
    key_hash: bytes32,
    license_hash: bytes32,
    price: uint256,
    compute_price: uint256,
    pool_id: uint256,
) -> uint256:
    """
    @dev Lists a dataset for sale by the caller, active at once.
    @param commitment SHA-256 of the encrypted dataset blob (its address).
    @param key_hash keccak256 of the key that opens the blob; every
           access delivery must post a key with this hash.
    @param license_hash Hash of the license terms a buyer agrees to.
    @param price ALT (wei) for access, in (0, MAX_PRICE].
    @param compute_price ALT (wei) per compute job, 0 if not offered.
    @param pool_id 0 for a seller's own dataset, else a pool the
           caller curates: its sales pay the pool's contributors.
    @return uint256 The listing id (ids count up from 1).
    """
    assert commitment != empty(bytes32), "create_listing: empty commitment"
    assert key_hash != empty(bytes32), "create_listing: empty key hash"
    assert license_hash != empty(bytes32), "create_listing: empty license hash"
    self._check_prices(price, compute_price, "create_listing")
    if pool_id != 0:
        assert self._pools[pool_id].curator != empty(address), "create_listing: unknown pool"
        assert self._pools[pool_id].curator == msg.sender, (
            "create_listing: caller is not the pool curator"
        )
    listing_id: uint256 = self._listing_count + 1
    self._listing_count = listing_id
    self._listings[listing_id] = _StoredListing(
        seller_pool_active=convert(msg.sender, uint256) | (pool_id << 160) | (1 << 224),
        prices=price | (compute_price << 128),
        commitment=commitment,
        key_hash=key_hash,
        license_hash=license_hash,
    )
    log ListingCreated(
        listing_id=listing_id,
        seller=msg.sender,
        pool_id=pool_id,
        commitment=commitment,
        key_hash=key_hash,
        license_hash=license_hash,
        price=price,
        compute_price=compute_price,
    )
    return listing_id


@external
def set_prices(listing_id: uint256, price: uint256, compute_price: uint256):
    """
    @dev Reprices a listing for future purchases; seller only.
    """
    stored: _StoredListing = self._stored_listing(listing_id, "set_prices")
    assert msg.sender == self._seller(stored), "set_prices: caller is not the seller"
    self._check_prices(price, compute_price, "set_prices")
    self._listings[listing_id].prices = price | (compute_price << 128)
    log ListingRepriced(listing_id=listing_id, price=price, compute_price=compute_price)


@external
def set_active(listing_id: uint256, active: bool):
    """
    @dev Delists (False) or relists (True) a listing; seller only.
         Purchases already in escrow are unaffected.
    """
    stored: _StoredListing = self._stored_listing(listing_id, "set_active")
    assert msg.sender == self._seller(stored), "set_active: caller is not the seller"
    assert self._active(stored) != active, "set_active: no change"
    flag: uint256 = 1 << 224
    if active:
        self._listings[listing_id].seller_pool_active = stored.seller_pool_active | flag
    else:
        self._listings[listing_id].seller_pool_active = stored.seller_pool_active & ~flag
    log ListingActiveChanged(listing_id=listing_id, active=active)


# --- purchases --------------------------------------------------------------------------------


@external
@nonreentrant
def buy(
    listing_id: uint256, kind: uint8, max_price: uint256, deadline: uint256, delivery_key: address
) -> uint256:
    """
    @dev Pays the listing's price for `kind` (KIND_ACCESS or
         KIND_COMPUTE) into escrow with `transferFrom` (approve first).
    @param max_price Reverts if the price is above it (a seller raising
           the price in front of the purchase cannot charge more).
    @param deadline Reverts if the transaction is mined after it.
    @param delivery_key The address of a fresh key only this purchase
           uses: the seller encrypts the content key to it, and the
           buyer reveals its secret to dispute a delivery.
    @return uint256 The purchase id (ids count up from 1).
    """
    return self._buy(listing_id, kind, max_price, deadline, delivery_key)


@external
@nonreentrant
def buy_with_permit(
    listing_id: uint256,
    kind: uint8,
    max_price: uint256,
    deadline: uint256,
    delivery_key: address,
    v: uint8,
    r: bytes32,
    s: bytes32,
) -> uint256:
    """
    @dev `buy` in one transaction: the caller's EIP-2612 permit for this
         contract, `max_price` and `deadline` replaces the approval. A
         permit somebody already submitted is skipped while the
         allowance covers the price, so front-running it cannot block
         the purchase.
    """
    price: uint256 = self._price(self._stored_listing(listing_id, "buy"), kind)
    assert price <= max_price, "buy: price above max_price"
    if staticcall IERC20(token).allowance(msg.sender, self) < price:
        extcall IERC20Permit(token).permit(msg.sender, self, max_price, deadline, v, r, s)
    return self._buy(listing_id, kind, max_price, deadline, delivery_key)


@external
def deliver(
    purchase_id: uint256,
    ephemeral_x: uint256,
    ephemeral_odd: bool,
    wrapped_key: bytes32,
    content: bytes32,
    key_hash: bytes32,
):
    """
    @dev Registers the delivery of an escrowed purchase, before its
         deadline; seller only. The seller picks an ephemeral key e,
         posts E = e*G as (x, y is odd) and
         wrapped_key = key XOR keccak256(abi_encode(address(e*D),
         chainid, this contract, purchase_id)) where D is the buyer's
         delivery key: only e and D's secret recover the key. The
         payment is released by `settle` after the dispute window or
         by `acknowledge_delivery` at once.
    @param content What the key opens: the listing's commitment for
           access; for a compute job, the SHA-256 of the sealed model.
    @param key_hash keccak256 of the key: the listing's for access.
    """
    stored: _StoredPurchase = self._stored_purchase(purchase_id, "deliver")
    assert self._status(stored) == STATUS_ESCROWED, "deliver: purchase not in escrow"
    listing_id: uint256 = stored.terms >> 176
    listing: _StoredListing = self._listings[listing_id]
    assert msg.sender == self._seller(listing), "deliver: caller is not the seller"
    assert block.timestamp <= convert(self._deadline(stored), uint256), (
        "deliver: delivery deadline passed"
    )
    # An x at or above the group order cannot be checked with ecrecover in a dispute.
    assert ephemeral_x != 0 and ephemeral_x < SECP256K1_N, (
        "deliver: ephemeral key out of range"
    )
    if self._kind(stored) == KIND_ACCESS:
        assert content == listing.commitment, "deliver: content is not the listed commitment"
        assert key_hash == listing.key_hash, "deliver: key hash is not the listed one"
    else:
        assert content != empty(bytes32), "deliver: empty content"
        assert key_hash != empty(bytes32), "deliver: empty key hash"
    delivery_key: address = convert(convert(stored.delivery & _MASK_160, uint160), address)
    delivery_hash: bytes32 = self._delivery_hash(
        delivery_key, ephemeral_x, ephemeral_odd, wrapped_key, content, key_hash
    )
    dispute_deadline: uint64 = convert(block.timestamp, uint64) + self.dispute_window
    self._purchases[purchase_id].buyer_state = self._with_status_and_deadline(
        stored.buyer_state, STATUS_DELIVERED, dispute_deadline
    )
    self._purchases[purchase_id].delivery = convert(delivery_hash, uint256)
    log Delivered(
        purchase_id=purchase_id,
        listing_id=listing_id,
        buyer=self._buyer(stored),
        ephemeral_x=ephemeral_x,
        ephemeral_odd=ephemeral_odd,
        wrapped_key=wrapped_key,
        content=content,
        key_hash=key_hash,
        delivery_hash=delivery_hash,
        dispute_deadline=dispute_deadline,
    )


@external
@nonreentrant
def dispute(
    purchase_id: uint256,
    delivery_secret: uint256,
    ephemeral_x: uint256,
    ephemeral_odd: bool,
    wrapped_key: bytes32,
    content: bytes32,
    key_hash: bytes32,
) -> uint256:
    """
    @dev Within the dispute window, refunds the buyer if the delivered
         key does not match its commitment; buyer only. The buyer
         reveals the secret of its delivery key (used for this purchase
         only) and repeats what `deliver` posted; the contract checks
         both against the stored delivery hash, recomputes the shared
         secret and decrypts the key. A key that matches reverts, so a
         buyer cannot both keep a good key and get its money back.
    @return uint256 The ALT (wei) credited back.
    """
    stored: _StoredPurchase = self._stored_purchase(purchase_id, "dispute")
    buyer: address = self._buyer(stored)
    assert msg.sender == buyer, "dispute: caller is not the buyer"
    assert self._status(stored) == STATUS_DELIVERED, "dispute: purchase not delivered"
    assert block.timestamp <= convert(self._deadline(stored), uint256), (
        "dispute: dispute window closed"
    )
    assert delivery_secret != 0 and delivery_secret < SECP256K1_N, (
        "dispute: secret out of range"
    )
    # ecrecover(0, v, R.x, s) = address(R.x^-1 * s * R), so s = secret * R.x mod N yields
    # address(secret * R): with R = G the delivery key, with R = E the shared point.
    delivery_key: address = ecrecover(
        empty(bytes32), 27, _GX, uint256_mulmod(delivery_secret, _GX, SECP256K1_N)
    )
    delivered: bytes32 = self._delivery_hash(
        delivery_key, ephemeral_x, ephemeral_odd, wrapped_key, content, key_hash
    )
    assert convert(delivered, uint256) == stored.delivery, (
        "dispute: secret or delivery does not match the purchase"
    )
    v: uint256 = 27
    if ephemeral_odd:
        v = 28
    shared: address = ecrecover(
        empty(bytes32), v, ephemeral_x, uint256_mulmod(delivery_secret, ephemeral_x, SECP256K1_N)
    )
    # An ephemeral x that is no curve point recovers nothing: no key can be read, the buyer wins.
    if shared != empty(address):
        key: bytes32 = self._unwrap(wrapped_key, shared, purchase_id)
        assert keccak256(key) != key_hash, "dispute: the delivered key matches its commitment"
    return self._refund(purchase_id, stored, True)


@external
@nonreentrant
def settle(purchase_id: uint256):
    """
    @dev Releases a delivered purchase's escrow once its dispute window
         has passed; anyone may call. The fee goes to the fee recipient
         of the purchase, the rest to the seller or, for a pool
         listing, to the pool's contributors.
    """
    stored: _StoredPurchase = self._stored_purchase(purchase_id, "settle")
    assert self._status(stored) == STATUS_DELIVERED, "settle: purchase not delivered"
    assert block.timestamp > convert(self._deadline(stored), uint256), (
        "settle: dispute window not passed"
    )
    self._pay(purchase_id, stored)


@external
@nonreentrant
def acknowledge_delivery(purchase_id: uint256, signature: Bytes[65]):
    """
    @dev Releases a delivered purchase's escrow before the dispute
         window ends, with the buyer's EIP-712 signature of
         Delivery(purchaseId, deliveryHash) over the stored delivery
         hash; anyone may submit it (the seller, typically).
    """
    stored: _StoredPurchase = self._stored_purchase(purchase_id, "acknowledge_delivery")
    assert self._status(stored) == STATUS_DELIVERED, "acknowledge_delivery: purchase not delivered"
    digest: bytes32 = self._delivery_digest(purchase_id, convert(stored.delivery, bytes32))
    assert ecdsa._recover_sig(digest, signature) == self._buyer(stored), (
        "acknowledge_delivery: signature is not the buyer's"
    )
    self._pay(purchase_id, stored)


@external
@nonreentrant
def reclaim(purchase_id: uint256) -> uint256:
    """
    @dev After the delivery deadline, credits an undelivered purchase's
         payment back to its buyer; anyone may call (the credit goes to
         the buyer), so an abandoned purchase cannot keep a pool's
         shares frozen. A delivered purchase is never reclaimed.
    @return uint256 The ALT (wei) credited back.
    """
    stored: _StoredPurchase = self._stored_purchase(purchase_id, "reclaim")
    assert self._status(stored) == STATUS_ESCROWED, "reclaim: purchase not in escrow"
    assert block.timestamp > convert(self._deadline(stored), uint256), (
        "reclaim: delivery deadline not passed"
    )
    return self._refund(purchase_id, stored, False)


# --- pools ------------------------------------------------------------------------------------


@external
def create_pool(metadata_hash: bytes32) -> uint256:
    """
    @dev Creates a pool curated by the caller.
    @param metadata_hash Hash of the pool's description and schema.
    @return uint256 The pool id (ids count up from 1).
    """
    assert metadata_hash != empty(bytes32), "create_pool: empty metadata hash"
    pool_id: uint256 = self._pool_count + 1
    assert pool_id <= _MASK_64, "create_pool: too many pools"
    self._pool_count = pool_id
    self._pools[pool_id].curator = msg.sender
    self._pools[pool_id].metadata_hash = metadata_hash
    log PoolCreated(pool_id=pool_id, curator=msg.sender, metadata_hash=metadata_hash)
    return pool_id


@external
def join(pool_id: uint256, contributor: address, records: uint256, quality_bps: uint256):
    """
    @dev Records `contributor`'s share in the pool: `records` records
         weighted by `quality_bps` (10,000 = full weight); curator only.
         A contributor already in the pool gets the new share, after
         settling what the old one earned.
    """
    self._check_curator(pool_id, "join")
    self._set_share(pool_id, contributor, records, quality_bps, "join")


@external
def join_many(
    pool_id: uint256,
    contributors: DynArray[address, MAX_BATCH],
    records: DynArray[uint256, MAX_BATCH],
    quality_bps: DynArray[uint256, MAX_BATCH],
):
    """
    @dev `join` for up to MAX_BATCH contributors in one transaction.
    """
    self._check_curator(pool_id, "join_many")
    assert len(records) == len(contributors) and len(quality_bps) == len(contributors), (
        "join_many: array lengths differ"
    )
    for i: uint256 in range(len(contributors), bound=MAX_BATCH):
        self._set_share(pool_id, contributors[i], records[i], quality_bps[i], "join_many")


@external
def leave(pool_id: uint256):
    """
    @dev The caller leaves the pool; what it earned so far is credited
         to its balance and stays withdrawable.
    """
    assert self._contributors[pool_id][msg.sender].shares > 0, "leave: not a contributor"
    self._remove(pool_id, msg.sender, "leave")


@external
def remove_contributor(pool_id: uint256, contributor: address):
    """
    @dev Removes `contributor` (e.g. consent withdrawn off chain);
         curator only. Its earnings so far are credited to its balance.
    """
    self._check_curator(pool_id, "remove_contributor")
    assert self._contributors[pool_id][contributor].shares > 0, (
        "remove_contributor: not a contributor"
    )
    self._remove(pool_id, contributor, "remove_contributor")


@external
def claim(pool_id: uint256) -> uint256:
    """
    @dev Credits the caller's pool earnings to its balance.
    @return uint256 The ALT (wei) credited.
    """
    return self._settle(pool_id, msg.sender)


@external
@nonreentrant
def claim_and_withdraw(pool_id: uint256) -> uint256:
    """
    @dev `claim` then `withdraw` in one transaction.
    @return uint256 The ALT (wei) sent to the caller.
    """
    self._settle(pool_id, msg.sender)
    return self._withdraw()


@external
@nonreentrant
def withdraw() -> uint256:
    """
    @dev Sends the caller's whole credited balance to the caller;
         reverts when there is nothing to withdraw.
    @return uint256 The ALT (wei) sent.
    """
    return self._withdraw()


# --- views ------------------------------------------------------------------------------------


@external
@view
def listing(listing_id: uint256) -> Listing:
    """
    @dev A listing's terms; reverts for an unknown id.
    """
    stored: _StoredListing = self._stored_listing(listing_id, "listing")
    return Listing(
        seller=self._seller(stored),
        pool_id=self._pool_of(stored),
        active=self._active(stored),
        price=stored.prices & _MASK_128,
        compute_price=stored.prices >> 128,
        commitment=stored.commitment,
        key_hash=stored.key_hash,
        license_hash=stored.license_hash,
    )


@external
@view
def listing_count() -> uint256:
    """
    @dev How many listings exist; ids are 1 .. count.
    """
    return self._listing_count


@external
@view
def purchase(purchase_id: uint256) -> Purchase:
    """
    @dev A purchase's state; reverts for an unknown id.
    """
    stored: _StoredPurchase = self._stored_purchase(purchase_id, "purchase")
    status: uint8 = self._status(stored)
    delivery_key: address = empty(address)
    delivery_hash: bytes32 = empty(bytes32)
    if status == STATUS_ESCROWED:
        delivery_key = convert(convert(stored.delivery & _MASK_160, uint160), address)
    elif stored.delivery != 0:
        delivery_hash = convert(stored.delivery, bytes32)
    return Purchase(
        listing_id=stored.terms >> 176,
        buyer=self._buyer(stored),
        kind=self._kind(stored),
        status=status,
        amount=stored.terms & _MASK_96,
        fee_bps=(stored.terms >> 96) & _MASK_16,
        fee_recipient=self._fee_recipients[(stored.terms >> 112) & _MASK_64],
        deadline=self._deadline(stored),
        delivery_key=delivery_key,
        delivery_hash=delivery_hash,
    )


@external
@view
def purchase_count() -> uint256:
    """
    @dev How many purchases exist; ids are 1 .. count.
    """
    return self._purchase_count


@external
@view
def has_access(listing_id: uint256, buyer: address) -> bool:
    """
    @dev Whether `buyer` holds an escrowed, delivered or settled access purchase.
    """
    return self._access[listing_id][buyer] != 0


@external
@view
def pool(pool_id: uint256) -> Pool:
    """
    @dev A pool's state; reverts for an unknown id.
    """
    assert self._pools[pool_id].curator != empty(address), "pool: unknown pool"
    return self._pools[pool_id]


@external
@view
def pool_count() -> uint256:
    """
    @dev How many pools exist; ids are 1 .. count.
    """
    return self._pool_count


@external
@view
def contributor(pool_id: uint256, account: address) -> Contributor:
    """
    @dev `account`'s share and settled earnings in the pool.
    """
    return self._contributors[pool_id][account]


@external
@view
def earned(pool_id: uint256, account: address) -> uint256:
    """
    @dev ALT (wei) `account` has earned in the pool and not yet claimed.
    """
    c: Contributor = self._contributors[pool_id][account]
    return (c.shares * self._pools[pool_id].acc_per_share - c.debt) // PRECISION


@external
@view
def balance_of(account: address) -> uint256:
    """
    @dev ALT (wei) credited to `account` and not yet withdrawn.
    """
    return self._balances[account]


@external
@view
def delivery_digest(purchase_id: uint256, delivery_hash: bytes32) -> bytes32:
    """
    @dev The EIP-712 digest a buyer signs to acknowledge a delivery.
    """
    return self._delivery_digest(purchase_id, delivery_hash)


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @dev The EIP-712 domain separator for the current chain.
    """
    return eip712._domain_separator_v4()


# --- internals --------------------------------------------------------------------------------


@internal
def _buy(
    listing_id: uint256, kind: uint8, max_price: uint256, deadline: uint256, delivery_key: address
) -> uint256:
    listing: _StoredListing = self._stored_listing(listing_id, "buy")
    assert self._active(listing), "buy: listing is not active"
    assert msg.sender != self._seller(listing), "buy: buyer is the seller"
    assert block.timestamp <= deadline, "buy: order deadline passed"
    assert delivery_key != empty(address), "buy: empty delivery key"
    price: uint256 = self._price(listing, kind)
    assert price <= max_price, "buy: price above max_price"
    if kind == KIND_ACCESS:
        assert self._access[listing_id][msg.sender] == 0, "buy: already bought"
    pool_id: uint256 = self._pool_of(listing)
    if pool_id != 0:
        # The sale is credited to the shares in force now: they stay frozen until it closes.
        assert self._pools[pool_id].total_shares > 0, "buy: pool has no contributors"
        self._pools[pool_id].open_sales += 1
    assert staticcall IERC20(token).allowance(msg.sender, self) >= price, (
        "buy: allowance below price"
    )
    purchase_id: uint256 = self._purchase_count + 1
    self._purchase_count = purchase_id
    delivery_deadline: uint64 = convert(block.timestamp, uint64) + self.delivery_window
    fee: uint256 = self.fee_bps
    epoch: uint256 = self._fee_epoch
    self._purchases[purchase_id] = _StoredPurchase(
        buyer_state=(
            convert(msg.sender, uint256)
            | (convert(kind, uint256) << 160)
            | (convert(STATUS_ESCROWED, uint256) << 168)
            | (convert(delivery_deadline, uint256) << 176)
        ),
        terms=price | (fee << 96) | (epoch << 112) | (listing_id << 176),
        delivery=convert(delivery_key, uint256),
    )
    if kind == KIND_ACCESS:
        self._access[listing_id][msg.sender] = purchase_id
    log Purchased(
        purchase_id=purchase_id,
        listing_id=listing_id,
        buyer=msg.sender,
        kind=kind,
        amount=price,
        fee_bps=fee,
        fee_recipient=self._fee_recipients[epoch],
        deadline=delivery_deadline,
        delivery_key=delivery_key,
    )
    assert extcall IERC20(token).transferFrom(msg.sender, self, price), "buy: transfer failed"
    return purchase_id


@internal
def _pay(purchase_id: uint256, stored: _StoredPurchase):
    """
    @dev Settles a delivered purchase: the fee to the recipient fixed at
         purchase, the rest to the seller or the pool.
    """
    listing_id: uint256 = stored.terms >> 176
    listing: _StoredListing = self._listings[listing_id]
    amount: uint256 = stored.terms & _MASK_96
    fee: uint256 = amount * ((stored.terms >> 96) & _MASK_16) // _BPS
    proceeds: uint256 = amount - fee
    recipient: address = self._fee_recipients[(stored.terms >> 112) & _MASK_64]
    self._purchases[purchase_id].buyer_state = self._with_status_and_deadline(
        stored.buyer_state, STATUS_SETTLED, self._deadline(stored)
    )
    if fee > 0:
        self._balances[recipient] += fee
    pool_id: uint256 = self._pool_of(listing)
    if pool_id == 0:
        self._balances[self._seller(listing)] += proceeds
    else:
        self._distribute(pool_id, purchase_id, proceeds)
    log Settled(
        purchase_id=purchase_id,
        listing_id=listing_id,
        buyer=self._buyer(stored),
        delivery_hash=convert(stored.delivery, bytes32),
        proceeds=proceeds,
        fee=fee,
        fee_recipient=recipient,
    )


@internal
def _refund(purchase_id: uint256, stored: _StoredPurchase, disputed: bool) -> uint256:
    buyer: address = self._buyer(stored)
    amount: uint256 = stored.terms & _MASK_96
    listing_id: uint256 = stored.terms >> 176
    self._purchases[purchase_id].buyer_state = self._with_status_and_deadline(
        stored.buyer_state, STATUS_REFUNDED, self._deadline(stored)
    )
    if self._kind(stored) == KIND_ACCESS:
        self._access[listing_id][buyer] = 0
    if not disputed:
        self._purchases[purchase_id].delivery = 0  # the unused delivery key, not a hash
    pool_id: uint256 = self._pool_of(self._listings[listing_id])
    if pool_id != 0:
        self._pools[pool_id].open_sales -= 1
    self._balances[buyer] += amount
    log Refunded(purchase_id=purchase_id, buyer=buyer, amount=amount, disputed=disputed)
    return amount


@internal
def _distribute(pool_id: uint256, purchase_id: uint256, amount: uint256):
    # The sale froze the shares when it was bought, so total_shares is still above zero
    # and is the total it was bought under.
    total_shares: uint256 = self._pools[pool_id].total_shares
    scaled: uint256 = amount * PRECISION + self._pools[pool_id].remainder
    increment: uint256 = scaled // total_shares
    acc: uint256 = self._pools[pool_id].acc_per_share + increment
    self._pools[pool_id].acc_per_share = acc
    self._pools[pool_id].remainder = scaled - increment * total_shares
    self._pools[pool_id].revenue += amount
    self._pools[pool_id].open_sales -= 1
    log PoolRevenue(pool_id=pool_id, purchase_id=purchase_id, amount=amount, acc_per_share=acc)


@internal
def _settle(pool_id: uint256, account: address) -> uint256:
    """
    @dev Credits `account`'s pending pool earnings to its balance; keeps
         the sub-wei fraction owed in `debt`.
    """
    c: Contributor = self._contributors[pool_id][account]
    pending: uint256 = c.shares * self._pools[pool_id].acc_per_share - c.debt
    paid: uint256 = pending // PRECISION
    if paid == 0:
        return 0
    self._contributors[pool_id][account].debt = c.debt + paid * PRECISION
    self._contributors[pool_id][account].claimed = c.claimed + paid
    self._balances[account] += paid
    log EarningsClaimed(pool_id=pool_id, contributor=account, amount=paid)
    return paid


@internal
def _set_share(
    pool_id: uint256, account: address, records: uint256, quality_bps: uint256, action: String[16]
):
    assert account != empty(address), concat(action, ": contributor is the zero address")
    assert records > 0 and records <= MAX_RECORDS, concat(action, ": records out of range")
    assert quality_bps > 0 and quality_bps <= MAX_QUALITY_BPS, (
        concat(action, ": quality out of range")
    )
    self._check_no_open_sales(pool_id, action)
    self._settle(pool_id, account)
    c: Contributor = self._contributors[pool_id][account]
    acc: uint256 = self._pools[pool_id].acc_per_share
    fraction: uint256 = c.shares * acc - c.debt  # below PRECISION after _settle
    shares: uint256 = records * quality_bps
    total: uint256 = self._pools[pool_id].total_shares - c.shares + shares
    if c.shares == 0:
        self._pools[pool_id].contributors += 1
    self._pools[pool_id].total_shares = total
    self._contributors[pool_id][account] = Contributor(
        shares=shares,
        records=records,
        quality_bps=quality_bps,
        debt=shares * acc - min(fraction, shares * acc),
        claimed=c.claimed,
    )
    log ShareChanged(
        pool_id=pool_id,
        contributor=account,
        records=records,
        quality_bps=quality_bps,
        shares=shares,
        total_shares=total,
    )


@internal
def _remove(pool_id: uint256, account: address, action: String[24]):
    self._check_no_open_sales(pool_id, action)
    self._settle(pool_id, account)
    shares: uint256 = self._contributors[pool_id][account].shares
    total: uint256 = self._pools[pool_id].total_shares - shares
    self._pools[pool_id].total_shares = total
    self._pools[pool_id].contributors -= 1
    # A sub-wei fraction still owed is forfeited with the share.
    self._contributors[pool_id][account].shares = 0
    self._contributors[pool_id][account].records = 0
    self._contributors[pool_id][account].quality_bps = 0
    self._contributors[pool_id][account].debt = 0
    log ShareChanged(
        pool_id=pool_id,
        contributor=account,
        records=0,
        quality_bps=0,
        shares=0,
        total_shares=total,
    )


@internal
def _withdraw() -> uint256:
    amount: uint256 = self._balances[msg.sender]
    assert amount > 0, "withdraw: nothing to withdraw"
    self._balances[msg.sender] = 0
    log Withdrawn(account=msg.sender, amount=amount)
    assert extcall IERC20(token).transfer(msg.sender, amount), "withdraw: transfer failed"
    return amount


@internal
@view
def _check_no_open_sales(pool_id: uint256, action: String[24]):
    # A share change now would change who is paid for sales already bought.
    assert self._pools[pool_id].open_sales == 0, concat(action, ": pool has open sales")


@internal
@view
def _check_curator(pool_id: uint256, action: String[24]):
    curator: address = self._pools[pool_id].curator
    assert curator != empty(address), concat(action, ": unknown pool")
    assert msg.sender == curator, concat(action, ": caller is not the pool curator")


@internal
@pure
def _check_prices(price: uint256, compute_price: uint256, action: String[16]):
    assert price > 0, concat(action, ": price must be above zero")
    assert price <= MAX_PRICE, concat(action, ": price above MAX_PRICE")
    assert compute_price <= MAX_PRICE, concat(action, ": compute price above MAX_PRICE")


@internal
@view
def _price(listing: _StoredListing, kind: uint8) -> uint256:
    if kind == KIND_ACCESS:
        return listing.prices & _MASK_128
    assert kind == KIND_COMPUTE, "buy: unknown purchase kind"
    price: uint256 = listing.prices >> 128
    assert price > 0, "buy: compute not offered"
    return price


@internal
@view
def _delivery_digest(purchase_id: uint256, delivery_hash: bytes32) -> bytes32:
    return eip712._hash_typed_data_v4(
        keccak256(abi_encode(DELIVERY_TYPEHASH, purchase_id, delivery_hash))
    )


@internal
@pure
def _delivery_hash(
    delivery_key: address,
    ephemeral_x: uint256,
    ephemeral_odd: bool,
    wrapped_key: bytes32,
    content: bytes32,
    key_hash: bytes32,
) -> bytes32:
    return keccak256(
        abi_encode(delivery_key, ephemeral_x, ephemeral_odd, wrapped_key, content, key_hash)
    )


@internal
@view
def _unwrap(wrapped_key: bytes32, shared: address, purchase_id: uint256) -> bytes32:
    pad: bytes32 = keccak256(abi_encode(shared, chain.id, self, purchase_id))
    return convert(convert(wrapped_key, uint256) ^ convert(pad, uint256), bytes32)


@internal
@pure
def _with_status_and_deadline(buyer_state: uint256, status: uint8, deadline: uint64) -> uint256:
    kept: uint256 = buyer_state & (_MASK_160 | (_MASK_8 << 160))  # buyer and kind
    return kept | (convert(status, uint256) << 168) | (convert(deadline, uint256) << 176)


@internal
@view
def _stored_listing(listing_id: uint256, action: String[24]) -> _StoredListing:
    stored: _StoredListing = self._listings[listing_id]
    # Every listing has a seller, so an empty first slot means no listing.
    assert stored.seller_pool_active != 0, concat(action, ": unknown listing")
    return stored


@internal
@view
def _stored_purchase(purchase_id: uint256, action: String[24]) -> _StoredPurchase:
    stored: _StoredPurchase = self._purchases[purchase_id]
    assert stored.buyer_state != 0, concat(action, ": unknown purchase")
    return stored


@internal
@pure
def _seller(stored: _StoredListing) -> address:
    return convert(convert(stored.seller_pool_active & _MASK_160, uint160), address)


@internal
@pure
def _pool_of(stored: _StoredListing) -> uint256:
    return (stored.seller_pool_active >> 160) & _MASK_64


@internal
@pure
def _active(stored: _StoredListing) -> bool:
    return (stored.seller_pool_active >> 224) & 1 == 1


@internal
@pure
def _buyer(stored: _StoredPurchase) -> address:
    return convert(convert(stored.buyer_state & _MASK_160, uint160), address)


@internal
@pure
def _kind(stored: _StoredPurchase) -> uint8:
    return convert((stored.buyer_state >> 160) & _MASK_8, uint8)


@internal
@pure
def _status(stored: _StoredPurchase) -> uint8:
    return convert((stored.buyer_state >> 168) & _MASK_8, uint8)


@internal
@pure
def _deadline(stored: _StoredPurchase) -> uint64:
    return convert((stored.buyer_state >> 176) & _MASK_64, uint64)
