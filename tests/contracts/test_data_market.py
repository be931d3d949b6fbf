"""DataMarket: listings, escrowed purchases, the fair exchange, refunds, fees, withdrawals.

Exploits of the review (issue 9) each have a test in "the fair exchange": a buyer who
takes the key and never acknowledges it still pays; a seller who posts a wrong key is
refunded on a dispute; a front-run price raise and a fee-recipient change after purchase
change nothing.
"""

from __future__ import annotations

import json

import boa
import pytest
from eth.exceptions import Revert
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger import contracts
from ailedger.contracts.typed_data import (
    DELIVERY_TYPES,
    PERMIT_TYPES,
    alt_token_domain,
    data_market_domain,
)
from ailedger.core.chain import decode_revert_reason
from ailedger.core.identity import hash_typed, sign_typed
from ailedger.market.exchange import (
    SECP256K1_N,
    WrappedKey,
    key_address,
    key_hash,
    public_key_of_secret,
    unwrap_key,
    wrap_key_for,
)

ZERO = "0x0000000000000000000000000000000000000000"
ALT = 10**18
PRICE = 10 * ALT
COMPUTE_PRICE = 4 * ALT
FEE_BPS = 250
WINDOW = 3 * 86_400
DISPUTE_WINDOW = 86_400
FAR = 2**40  # an order deadline that never passes
MAX_PRICE = 1_000_000 * ALT
ACCESS, COMPUTE = 0, 1
ESCROWED, DELIVERED, REFUNDED, SETTLED = 1, 2, 3, 4
COMMITMENT = keccak(b"encrypted dataset blob")
CONTENT_KEY = keccak(b"the dataset's AES key")
KEY_HASH = key_hash(CONTENT_KEY)
LICENSE = keccak(b"CC-BY-NC-4.0 research only")
DELIVERY_SECRET = 0xD311
DELIVERY_PUBLIC_KEY = public_key_of_secret(DELIVERY_SECRET)
DELIVERY_KEY = key_address(DELIVERY_PUBLIC_KEY)


def _deploy_market(
    token: str,
    fee_recipient: str,
    fee_bps: int,
    window: int,
    sender: str,
    dispute_window: int = DISPUTE_WINDOW,
):
    artifact = contracts.load("DataMarket")
    args = encode(
        ["address", "address", "uint256", "uint64", "uint64"],
        [token, fee_recipient, fee_bps, window, dispute_window],
    )
    address, _ = boa.env.deploy_code(bytecode=artifact.bytecode + args, sender=sender)
    return boa.loads_abi(json.dumps(artifact.abi), name="DataMarket").at(address)


@pytest.fixture
def token(deploy):
    return deploy("ALTToken")


@pytest.fixture
def fees() -> str:
    return boa.env.generate_address("fees")


@pytest.fixture
def market(token, fees, deployer):
    return _deploy_market(token.address, fees, FEE_BPS, WINDOW, deployer)


@pytest.fixture
def seller(bob) -> LocalAccount:
    return bob


@pytest.fixture
def buyer(token, deployer, alice, market) -> LocalAccount:
    """alice, holding 100 ALT and having approved the market for all of it."""
    token.mint(alice.address, 100 * ALT, sender=deployer)
    token.approve(market.address, 100 * ALT, sender=alice.address)
    return alice


@pytest.fixture
def listing_id(market, seller) -> int:
    return market.create_listing(
        COMMITMENT, KEY_HASH, LICENSE, PRICE, COMPUTE_PRICE, 0, sender=seller.address
    )


@pytest.fixture
def purchase_id(market, buyer, listing_id) -> int:
    return _buy(market, listing_id, ACCESS, buyer.address)


def _buy(market, listing_id: int, kind: int, sender: str, max_price: int = MAX_PRICE) -> int:
    return market.buy(listing_id, kind, max_price, FAR, DELIVERY_KEY, sender=sender)


def _deliver(market, purchase_id: int, seller: str, key: bytes = CONTENT_KEY) -> bytes:
    """Post ``key`` wrapped to the buyer's delivery key; return the stored delivery hash."""
    wrapped = wrap_key_for(
        key, DELIVERY_PUBLIC_KEY, boa.env.evm.patch.chain_id, market.address, purchase_id
    )
    market.deliver(
        purchase_id,
        wrapped.ephemeral_x,
        wrapped.ephemeral_odd,
        wrapped.wrapped,
        COMMITMENT,
        KEY_HASH,
        sender=seller,
    )
    return market.purchase(purchase_id).delivery_hash


@pytest.fixture
def acknowledgement(market, chain_id):
    """Sign Delivery(purchaseId, deliveryHash) as ``signer`` (default: the stored hash)."""

    def _sign(signer: LocalAccount, purchase: int, delivery_hash: bytes | None = None) -> bytes:
        if delivery_hash is None:
            delivery_hash = market.purchase(purchase).delivery_hash
        domain = data_market_domain(chain_id, market.address)
        message = {"purchaseId": purchase, "deliveryHash": delivery_hash}
        return sign_typed(signer, domain, "Delivery", DELIVERY_TYPES, message)

    return _sign


def _names(contract) -> list[str]:
    # get_logs() reads the most recent call: read events before any view call.
    return [type(event).__name__ for event in contract.get_logs()]


def _event(contract, name: str):
    return next(e for e in contract.get_logs() if type(e).__name__ == name)


def _now() -> int:
    return boa.env.evm.patch.timestamp


def _balances(token, market, *accounts) -> tuple[int, ...]:
    return (token.balanceOf(market.address), *(token.balanceOf(a) for a in accounts))


# --- deployment -------------------------------------------------------------------------------


def test_constructor_records_token_fee_recipient_and_window(market, token, fees, deployer):
    assert market.token() == token.address
    assert (market.fee_recipient(), market.fee_bps()) == (fees, FEE_BPS)
    assert market.delivery_window() == WINDOW
    assert market.dispute_window() == DISPUTE_WINDOW
    assert market.owner() == deployer


@pytest.mark.parametrize(
    ("token_ok", "recipient_ok", "fee_bps", "window", "dispute", "reason"),
    [
        (False, True, 0, WINDOW, DISPUTE_WINDOW, "init: token is the zero address"),
        (True, False, 0, WINDOW, DISPUTE_WINDOW, "init: fee recipient is the zero address"),
        (True, True, 1_001, WINDOW, DISPUTE_WINDOW, "init: fee above MAX_FEE_BPS"),
        (True, True, 0, 59, DISPUTE_WINDOW, "init: delivery window out of range"),
        (True, True, 0, 90 * 86_400 + 1, DISPUTE_WINDOW, "init: delivery window out of range"),
        (True, True, 0, WINDOW, 59, "init: dispute window out of range"),
        (True, True, 0, WINDOW, 30 * 86_400 + 1, "init: dispute window out of range"),
    ],
)
def test_constructor_rejects_bad_arguments(
    token, fees, deployer, token_ok, recipient_ok, fee_bps, window, dispute, reason
):
    # deploy_code raises py-evm's Revert carrying the ABI-encoded Error(string).
    with pytest.raises(Revert) as raised:
        _deploy_market(
            token.address if token_ok else ZERO,
            fees if recipient_ok else ZERO,
            fee_bps,
            window,
            deployer,
            dispute,
        )
    assert decode_revert_reason(raised.value.args[0]) == reason


def test_domain_separator_matches_the_off_chain_domain(market, chain_id):
    assert market.DOMAIN_SEPARATOR() == data_market_domain(chain_id, market.address).separator()


def test_delivery_digest_matches_the_off_chain_eip712_hash(market, chain_id):
    domain = data_market_domain(chain_id, market.address)
    message = {"purchaseId": 7, "deliveryHash": KEY_HASH}
    assert market.delivery_digest(7, KEY_HASH) == hash_typed(
        domain, "Delivery", DELIVERY_TYPES, message
    )


# --- administration ---------------------------------------------------------------------------


def test_owner_sets_the_fee_and_it_is_logged(market, deployer):
    market.set_fee(500, sender=deployer)
    event = _event(market, "FeeChanged")
    assert (event.previous_bps, event.new_bps) == (FEE_BPS, 500)
    assert market.fee_bps() == 500


def test_fee_above_the_cap_reverts(market, deployer):
    with boa.reverts("set_fee: fee above MAX_FEE_BPS"):
        market.set_fee(1_001, sender=deployer)
    assert market.fee_bps() == FEE_BPS


def test_fee_change_by_non_owner_reverts(market, mallory):
    with boa.reverts("ownable: caller is not the owner"):
        market.set_fee(0, sender=mallory.address)


def test_owner_sets_the_fee_recipient(market, deployer, mallory):
    market.set_fee_recipient(mallory.address, sender=deployer)
    assert "FeeRecipientChanged" in _names(market)
    assert market.fee_recipient() == mallory.address


def test_fee_recipient_change_by_non_owner_reverts(market, mallory):
    with boa.reverts("ownable: caller is not the owner"):
        market.set_fee_recipient(mallory.address, sender=mallory.address)


def test_zero_fee_recipient_reverts(market, deployer):
    with boa.reverts("set_fee_recipient: zero address"):
        market.set_fee_recipient(ZERO, sender=deployer)


# (setter, its current value, its event, its largest value); the smallest is 60 for both.
WINDOW_SETTERS = [
    ("set_delivery_window", WINDOW, "DeliveryWindowChanged", 90 * 86_400),
    ("set_dispute_window", DISPUTE_WINDOW, "DisputeWindowChanged", 30 * 86_400),
]


@pytest.mark.parametrize(("setter", "current", "event", "_"), WINDOW_SETTERS)
def test_owner_sets_a_window(market, deployer, setter, current, event, _):
    getattr(market, setter)(3_600, sender=deployer)
    logged = _event(market, event)
    assert (logged.previous_seconds, logged.new_seconds) == (current, 3_600)
    assert getattr(market, setter.removeprefix("set_"))() == 3_600


@pytest.mark.parametrize(("setter", "current", "event", "largest"), WINDOW_SETTERS)
@pytest.mark.parametrize("beyond", [-1, 1])
def test_a_window_out_of_range_reverts(market, deployer, setter, current, event, largest, beyond):
    seconds = 59 if beyond < 0 else largest + 1
    with boa.reverts(f"{setter}: out of range"):
        getattr(market, setter)(seconds, sender=deployer)


@pytest.mark.parametrize("setter", [row[0] for row in WINDOW_SETTERS])
def test_a_window_change_by_non_owner_reverts(market, mallory, setter):
    with boa.reverts("ownable: caller is not the owner"):
        getattr(market, setter)(3_600, sender=mallory.address)


def test_owner_transfers_ownership(market, deployer, bob):
    market.transfer_ownership(bob.address, sender=deployer)
    assert market.owner() == bob.address
    with boa.reverts("ownable: caller is not the owner"):
        market.set_fee(0, sender=deployer)


# --- listings ---------------------------------------------------------------------------------


def test_create_listing_records_active_terms(market, seller):
    listing_id = market.create_listing(
        COMMITMENT, KEY_HASH, LICENSE, PRICE, COMPUTE_PRICE, 0, sender=seller.address
    )
    event = _event(market, "ListingCreated")
    assert (event.listing_id, event.seller, event.price) == (listing_id, seller.address, PRICE)
    assert listing_id == 1
    assert tuple(market.listing(listing_id)) == (
        seller.address,
        0,
        True,
        PRICE,
        COMPUTE_PRICE,
        COMMITMENT,
        KEY_HASH,
        LICENSE,
    )
    assert market.listing_count() == 1


def test_listing_ids_count_up_from_one(market, seller):
    ids = [
        market.create_listing(COMMITMENT, KEY_HASH, LICENSE, PRICE, 0, 0, sender=seller.address)
        for _ in range(3)
    ]
    assert ids == [1, 2, 3]


@pytest.mark.parametrize(
    ("price", "compute_price", "reason"),
    [
        (0, 0, "create_listing: price must be above zero"),
        (MAX_PRICE + 1, 0, "create_listing: price above MAX_PRICE"),
        (PRICE, MAX_PRICE + 1, "create_listing: compute price above MAX_PRICE"),
    ],
)
def test_create_listing_with_bad_price_reverts(market, seller, price, compute_price, reason):
    with boa.reverts(reason):
        market.create_listing(
            COMMITMENT, KEY_HASH, LICENSE, price, compute_price, 0, sender=seller.address
        )
    assert market.listing_count() == 0


def test_price_at_the_cap_is_accepted(market, seller):
    listing_id = market.create_listing(
        COMMITMENT, KEY_HASH, LICENSE, MAX_PRICE, MAX_PRICE, 0, sender=seller.address
    )
    assert market.listing(listing_id).price == MAX_PRICE


def test_create_listing_with_empty_commitment_reverts(market, seller):
    with boa.reverts("create_listing: empty commitment"):
        market.create_listing(b"\0" * 32, KEY_HASH, LICENSE, PRICE, 0, 0, sender=seller.address)


def test_create_listing_with_empty_key_hash_reverts(market, seller):
    with boa.reverts("create_listing: empty key hash"):
        market.create_listing(COMMITMENT, b"\0" * 32, LICENSE, PRICE, 0, 0, sender=seller.address)


def test_create_listing_with_empty_license_reverts(market, seller):
    with boa.reverts("create_listing: empty license hash"):
        market.create_listing(COMMITMENT, KEY_HASH, b"\0" * 32, PRICE, 0, 0, sender=seller.address)


def test_listing_for_unknown_pool_reverts(market, seller):
    with boa.reverts("create_listing: unknown pool"):
        market.create_listing(COMMITMENT, KEY_HASH, LICENSE, PRICE, 0, 9, sender=seller.address)


def test_listing_for_someone_elses_pool_reverts(market, seller, mallory):
    pool_id = market.create_pool(keccak(b"pool"), sender=seller.address)
    with boa.reverts("create_listing: caller is not the pool curator"):
        market.create_listing(
            COMMITMENT, KEY_HASH, LICENSE, PRICE, 0, pool_id, sender=mallory.address
        )


def test_unknown_listing_reverts(market):
    with boa.reverts("listing: unknown listing"):
        market.listing(1)


def test_seller_reprices_a_listing(market, seller, listing_id):
    market.set_prices(listing_id, 2 * PRICE, 0, sender=seller.address)
    event = _event(market, "ListingRepriced")
    assert (event.price, event.compute_price) == (2 * PRICE, 0)
    listing = market.listing(listing_id)
    assert (listing.price, listing.compute_price) == (2 * PRICE, 0)


def test_reprice_by_non_seller_reverts(market, mallory, listing_id):
    with boa.reverts("set_prices: caller is not the seller"):
        market.set_prices(listing_id, 1, 0, sender=mallory.address)
    assert market.listing(listing_id).price == PRICE


def test_reprice_to_zero_reverts(market, seller, listing_id):
    with boa.reverts("set_prices: price must be above zero"):
        market.set_prices(listing_id, 0, 0, sender=seller.address)


def test_reprice_above_the_cap_reverts(market, seller, listing_id):
    with boa.reverts("set_prices: price above MAX_PRICE"):
        market.set_prices(listing_id, MAX_PRICE + 1, 0, sender=seller.address)


def test_reprice_with_compute_price_above_the_cap_reverts(market, seller, listing_id):
    with boa.reverts("set_prices: compute price above MAX_PRICE"):
        market.set_prices(listing_id, PRICE, MAX_PRICE + 1, sender=seller.address)
    assert market.listing(listing_id).compute_price == COMPUTE_PRICE


def test_reprice_of_unknown_listing_reverts(market, seller):
    with boa.reverts("set_prices: unknown listing"):
        market.set_prices(5, PRICE, 0, sender=seller.address)


def test_seller_delists_and_relists(market, seller, listing_id):
    market.set_active(listing_id, False, sender=seller.address)
    event = _event(market, "ListingActiveChanged")
    assert (event.listing_id, event.active) == (listing_id, False)
    assert not market.listing(listing_id).active
    market.set_active(listing_id, True, sender=seller.address)
    assert market.listing(listing_id).active


def test_unauthorized_delist_reverts(market, mallory, listing_id):
    with boa.reverts("set_active: caller is not the seller"):
        market.set_active(listing_id, False, sender=mallory.address)
    assert market.listing(listing_id).active


def test_delisting_an_unknown_listing_reverts(market, seller):
    with boa.reverts("set_active: unknown listing"):
        market.set_active(4, False, sender=seller.address)


def test_delisting_an_inactive_listing_reverts(market, seller, listing_id):
    market.set_active(listing_id, False, sender=seller.address)
    with boa.reverts("set_active: no change"):
        market.set_active(listing_id, False, sender=seller.address)


# --- buying -----------------------------------------------------------------------------------


def test_buy_moves_the_price_into_escrow(market, token, fees, buyer, listing_id):
    purchase_id = _buy(market, listing_id, ACCESS, buyer.address)
    event = _event(market, "Purchased")
    assert (event.purchase_id, event.buyer, event.amount) == (purchase_id, buyer.address, PRICE)
    assert token.balanceOf(market.address) == PRICE
    assert token.balanceOf(buyer.address) == 100 * ALT - PRICE
    assert tuple(market.purchase(purchase_id)) == (
        listing_id,
        buyer.address,
        ACCESS,
        ESCROWED,
        PRICE,
        FEE_BPS,
        fees,
        _now() + WINDOW,
        DELIVERY_KEY,
        b"\0" * 32,
    )
    assert market.has_access(listing_id, buyer.address)


def test_buy_of_an_inactive_listing_reverts_and_moves_nothing(
    market, token, seller, buyer, listing_id
):
    market.set_active(listing_id, False, sender=seller.address)
    before = _balances(token, market, buyer.address)
    with boa.reverts("buy: listing is not active"):
        _buy(market, listing_id, ACCESS, buyer.address)
    assert _balances(token, market, buyer.address) == before
    assert market.purchase_count() == 0


def test_buying_an_already_bought_listing_reverts(market, token, buyer, listing_id, purchase_id):
    before = _balances(token, market, buyer.address)
    with boa.reverts("buy: already bought"):
        _buy(market, listing_id, ACCESS, buyer.address)
    assert _balances(token, market, buyer.address) == before


def test_buying_ones_own_listing_reverts(market, token, deployer, seller, listing_id):
    token.mint(seller.address, PRICE, sender=deployer)
    token.approve(market.address, PRICE, sender=seller.address)
    with boa.reverts("buy: buyer is the seller"):
        _buy(market, listing_id, ACCESS, seller.address)


def test_buy_with_insufficient_allowance_reverts_and_moves_nothing(
    market, token, deployer, mallory, listing_id
):
    token.mint(mallory.address, 100 * ALT, sender=deployer)
    token.approve(market.address, PRICE - 1, sender=mallory.address)
    before = _balances(token, market, mallory.address)
    with boa.reverts("buy: allowance below price"):
        _buy(market, listing_id, ACCESS, mallory.address)
    assert _balances(token, market, mallory.address) == before
    assert not market.has_access(listing_id, mallory.address)


def test_buy_with_insufficient_balance_reverts(market, token, mallory, listing_id):
    token.approve(market.address, PRICE, sender=mallory.address)
    with boa.reverts("erc20: transfer amount exceeds balance"):
        _buy(market, listing_id, ACCESS, mallory.address)
    assert market.purchase_count() == 0


def test_buy_of_an_unknown_listing_reverts(market, buyer):
    with boa.reverts("buy: unknown listing"):
        _buy(market, 42, ACCESS, buyer.address)


def test_buy_of_an_unknown_kind_reverts(market, buyer, listing_id):
    with boa.reverts("buy: unknown purchase kind"):
        _buy(market, listing_id, 2, buyer.address)


def test_compute_job_on_a_listing_without_compute_reverts(market, seller, buyer):
    listing_id = market.create_listing(
        COMMITMENT, KEY_HASH, LICENSE, PRICE, 0, 0, sender=seller.address
    )
    with boa.reverts("buy: compute not offered"):
        _buy(market, listing_id, COMPUTE, buyer.address)


def test_compute_jobs_repeat_and_grant_no_access(market, token, buyer, listing_id):
    first = _buy(market, listing_id, COMPUTE, buyer.address)
    second = _buy(market, listing_id, COMPUTE, buyer.address)
    assert (first, second) == (1, 2)
    assert market.purchase(second).amount == COMPUTE_PRICE
    assert token.balanceOf(market.address) == 2 * COMPUTE_PRICE
    assert not market.has_access(listing_id, buyer.address)


def _permit(token, owner: LocalAccount, spender: str, value: int, chain_id: int):
    deadline = _now() + 3_600
    domain = alt_token_domain(chain_id, token.address)
    message = {
        "owner": owner.address,
        "spender": spender,
        "value": value,
        "nonce": token.nonces(owner.address),
        "deadline": deadline,
    }
    signature = sign_typed(owner, domain, "Permit", PERMIT_TYPES, message)
    return deadline, signature[64], signature[:32], signature[32:64]


def test_buy_with_permit_needs_no_prior_approval(
    market, token, deployer, mallory, listing_id, chain_id
):
    token.mint(mallory.address, PRICE, sender=deployer)
    deadline, v, r, s = _permit(token, mallory, market.address, PRICE, chain_id)
    purchase_id = market.buy_with_permit(
        listing_id, ACCESS, PRICE, deadline, DELIVERY_KEY, v, r, s, sender=mallory.address
    )
    assert market.purchase(purchase_id).buyer == mallory.address
    assert token.balanceOf(market.address) == PRICE
    assert token.allowance(mallory.address, market.address) == 0


def test_buy_with_permit_survives_a_front_run_permit(
    market, token, deployer, mallory, listing_id, chain_id
):
    token.mint(mallory.address, PRICE, sender=deployer)
    deadline, v, r, s = _permit(token, mallory, market.address, PRICE, chain_id)
    token.permit(mallory.address, market.address, PRICE, deadline, v, r, s, sender=deployer)
    market.buy_with_permit(
        listing_id, ACCESS, PRICE, deadline, DELIVERY_KEY, v, r, s, sender=mallory.address
    )
    assert token.balanceOf(market.address) == PRICE


def test_buy_with_someone_elses_permit_reverts(
    market, token, deployer, buyer, mallory, listing_id, chain_id
):
    token.mint(mallory.address, PRICE, sender=deployer)
    deadline, v, r, s = _permit(token, buyer, market.address, PRICE, chain_id)
    with boa.reverts("erc20: invalid signature"):
        market.buy_with_permit(
            listing_id, ACCESS, PRICE, deadline, DELIVERY_KEY, v, r, s, sender=mallory.address
        )
    assert token.balanceOf(mallory.address) == PRICE


def test_fee_is_fixed_when_the_buyer_pays(market, deployer, purchase_id):
    market.set_fee(1_000, sender=deployer)
    assert market.purchase(purchase_id).fee_bps == FEE_BPS


# --- early settlement with the buyer's acknowledgement --------------------------------------


def test_acknowledged_delivery_pays_seller_and_fee(
    market, seller, buyer, fees, purchase_id, acknowledgement
):
    delivery_hash = _deliver(market, purchase_id, seller.address)
    market.acknowledge_delivery(
        purchase_id, acknowledgement(buyer, purchase_id), sender=seller.address
    )
    event = _event(market, "Settled")
    fee = PRICE * FEE_BPS // 10_000
    assert (event.purchase_id, event.buyer, event.delivery_hash) == (
        purchase_id,
        buyer.address,
        delivery_hash,
    )
    assert (event.proceeds, event.fee, event.fee_recipient) == (PRICE - fee, fee, fees)
    assert market.balance_of(seller.address) == PRICE - fee
    assert market.balance_of(fees) == fee
    purchase = market.purchase(purchase_id)
    assert (purchase.status, purchase.delivery_hash) == (SETTLED, delivery_hash)
    assert market.has_access(purchase.listing_id, buyer.address)


def test_forged_acknowledgement_reverts_and_pays_nobody(
    market, seller, mallory, purchase_id, acknowledgement
):
    _deliver(market, purchase_id, seller.address)
    forged = acknowledgement(mallory, purchase_id)
    with boa.reverts("acknowledge_delivery: signature is not the buyer's"):
        market.acknowledge_delivery(purchase_id, forged, sender=seller.address)
    assert market.balance_of(seller.address) == 0
    assert market.purchase(purchase_id).status == DELIVERED


def test_acknowledgement_of_another_delivery_hash_reverts(
    market, seller, buyer, purchase_id, acknowledgement
):
    _deliver(market, purchase_id, seller.address)
    signature = acknowledgement(buyer, purchase_id, keccak(b"something else"))
    with boa.reverts("acknowledge_delivery: signature is not the buyer's"):
        market.acknowledge_delivery(purchase_id, signature, sender=seller.address)


def test_acknowledgement_replayed_on_another_purchase_reverts(
    market, seller, buyer, listing_id, purchase_id, acknowledgement
):
    job = _buy(market, listing_id, COMPUTE, buyer.address)
    _deliver(market, purchase_id, seller.address)
    signature = acknowledgement(buyer, purchase_id)
    _deliver(market, job, seller.address)
    with boa.reverts("acknowledge_delivery: signature is not the buyer's"):
        market.acknowledge_delivery(job, signature, sender=seller.address)


def test_malformed_signature_reverts(market, seller, purchase_id):
    _deliver(market, purchase_id, seller.address)
    with boa.reverts("ecdsa: invalid signature"):
        market.acknowledge_delivery(purchase_id, b"\x01" * 65, sender=seller.address)


def test_acknowledgement_before_delivery_reverts(
    market, seller, buyer, purchase_id, acknowledgement
):
    signature = acknowledgement(buyer, purchase_id, KEY_HASH)
    with boa.reverts("acknowledge_delivery: purchase not delivered"):
        market.acknowledge_delivery(purchase_id, signature, sender=seller.address)


def test_acknowledging_twice_reverts(market, seller, buyer, purchase_id, acknowledgement):
    _deliver(market, purchase_id, seller.address)
    signature = acknowledgement(buyer, purchase_id)
    market.acknowledge_delivery(purchase_id, signature, sender=seller.address)
    with boa.reverts("acknowledge_delivery: purchase not delivered"):
        market.acknowledge_delivery(purchase_id, signature, sender=seller.address)
    assert market.balance_of(seller.address) == PRICE - PRICE * FEE_BPS // 10_000


def test_acknowledging_an_unknown_purchase_reverts(market, seller, buyer, acknowledgement):
    signature = acknowledgement(buyer, 9, KEY_HASH)
    with boa.reverts("acknowledge_delivery: unknown purchase"):
        market.acknowledge_delivery(9, signature, sender=seller.address)


def test_delisting_keeps_escrowed_purchases_payable(
    market, seller, buyer, listing_id, purchase_id, acknowledgement
):
    market.set_active(listing_id, False, sender=seller.address)
    _deliver(market, purchase_id, seller.address)
    market.acknowledge_delivery(
        purchase_id, acknowledgement(buyer, purchase_id), sender=seller.address
    )
    assert market.balance_of(seller.address) > 0


def test_zero_fee_pays_the_seller_everything(
    market, deployer, seller, buyer, fees, listing_id, acknowledgement
):
    market.set_fee(0, sender=deployer)
    purchase_id = _buy(market, listing_id, ACCESS, buyer.address)
    _deliver(market, purchase_id, seller.address)
    market.acknowledge_delivery(
        purchase_id, acknowledgement(buyer, purchase_id), sender=seller.address
    )
    assert (market.balance_of(seller.address), market.balance_of(fees)) == (PRICE, 0)


# --- reclaiming -------------------------------------------------------------------------------


def test_reclaim_before_the_deadline_reverts(market, buyer, purchase_id):
    boa.env.time_travel(seconds=WINDOW)
    with boa.reverts("reclaim: delivery deadline not passed"):
        market.reclaim(purchase_id, sender=buyer.address)
    assert market.balance_of(buyer.address) == 0


def test_reclaim_after_the_deadline_refunds_the_buyer(market, buyer, listing_id, purchase_id):
    boa.env.time_travel(seconds=WINDOW + 1)
    market.reclaim(purchase_id, sender=buyer.address)
    event = _event(market, "Refunded")
    assert (event.purchase_id, event.buyer, event.amount) == (purchase_id, buyer.address, PRICE)
    assert market.balance_of(buyer.address) == PRICE
    purchase = market.purchase(purchase_id)
    assert (purchase.status, purchase.delivery_hash) == (REFUNDED, b"\0" * 32)
    assert not market.has_access(listing_id, buyer.address)


def test_a_refunded_buyer_may_buy_again(market, buyer, listing_id, purchase_id):
    boa.env.time_travel(seconds=WINDOW + 1)
    market.reclaim(purchase_id, sender=buyer.address)
    assert _buy(market, listing_id, ACCESS, buyer.address) == purchase_id + 1


def test_reclaim_by_anyone_credits_the_buyer(market, buyer, mallory, purchase_id):
    # Anyone may close an abandoned purchase (it unfreezes a pool's shares); the money
    # still goes to the buyer.
    boa.env.time_travel(seconds=WINDOW + 1)
    market.reclaim(purchase_id, sender=mallory.address)
    assert (market.balance_of(buyer.address), market.balance_of(mallory.address)) == (PRICE, 0)


def test_reclaiming_twice_reverts(market, buyer, purchase_id):
    boa.env.time_travel(seconds=WINDOW + 1)
    market.reclaim(purchase_id, sender=buyer.address)
    with boa.reverts("reclaim: purchase not in escrow"):
        market.reclaim(purchase_id, sender=buyer.address)
    assert market.balance_of(buyer.address) == PRICE


def test_reclaim_after_delivery_reverts(market, seller, buyer, purchase_id):
    _deliver(market, purchase_id, seller.address)
    boa.env.time_travel(seconds=WINDOW + 1)
    with boa.reverts("reclaim: purchase not in escrow"):
        market.reclaim(purchase_id, sender=buyer.address)


def test_unknown_purchase_reverts(market):
    with boa.reverts("purchase: unknown purchase"):
        market.purchase(1)


def test_reclaim_of_unknown_purchase_reverts(market, buyer):
    with boa.reverts("reclaim: unknown purchase"):
        market.reclaim(3, sender=buyer.address)


# --- withdrawing ------------------------------------------------------------------------------


@pytest.fixture
def paid_seller(market, seller, buyer, purchase_id, acknowledgement) -> int:
    _deliver(market, purchase_id, seller.address)
    market.acknowledge_delivery(
        purchase_id, acknowledgement(buyer, purchase_id), sender=seller.address
    )
    return market.balance_of(seller.address)


def test_withdraw_sends_the_whole_balance(market, token, seller, paid_seller):
    assert market.withdraw(sender=seller.address) == paid_seller
    event = _event(market, "Withdrawn")
    assert (event.account, event.amount) == (seller.address, paid_seller)
    assert token.balanceOf(seller.address) == paid_seller
    assert market.balance_of(seller.address) == 0


def test_withdrawing_twice_reverts(market, token, seller, paid_seller):
    market.withdraw(sender=seller.address)
    with boa.reverts("withdraw: nothing to withdraw"):
        market.withdraw(sender=seller.address)
    assert token.balanceOf(seller.address) == paid_seller


def test_fee_recipient_withdraws_the_fee(market, token, fees, paid_seller):
    market.withdraw(sender=fees)
    assert token.balanceOf(fees) == PRICE * FEE_BPS // 10_000


def test_refunded_buyer_withdraws_the_refund(market, token, buyer, purchase_id):
    boa.env.time_travel(seconds=WINDOW + 1)
    market.reclaim(purchase_id, sender=buyer.address)
    market.withdraw(sender=buyer.address)
    assert token.balanceOf(buyer.address) == 100 * ALT


def test_escrow_is_not_withdrawable_by_the_seller(market, seller, purchase_id):
    with boa.reverts("withdraw: nothing to withdraw"):
        market.withdraw(sender=seller.address)


# A token that is also the fee recipient and whose transfer() calls back into the market's
# withdraw. The reentrant call must hit the nonreentrant lock, which reverts without a
# reason; checks-effects-interactions alone would revert with "nothing to withdraw".
_REENTRANT_TOKEN = """
# pragma version ~=0.4.3
interface Market:
    def withdraw() -> uint256: nonpayable

market: public(address)
attempted: public(bool)
reentered: public(bool)
revert_data: public(Bytes[100])

@external
def set_market(m: address):
    self.market = m

@external
def pull() -> uint256:
    return extcall Market(self.market).withdraw()

@external
@view
def allowance(owner: address, spender: address) -> uint256:
    return max_value(uint256)

@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    return True

@external
def transfer(receiver: address, amount: uint256) -> bool:
    if not self.attempted:
        self.attempted = True
        ok: bool = False
        data: Bytes[100] = b""
        ok, data = raw_call(
            self.market, method_id("withdraw()"), max_outsize=100, revert_on_failure=False
        )
        self.reentered = ok
        self.revert_data = data
    return True
"""


def test_withdraw_cannot_be_reentered(deployer, seller, buyer, chain_id):
    evil = boa.loads(_REENTRANT_TOKEN)
    market = _deploy_market(evil.address, evil.address, 1_000, WINDOW, deployer)
    evil.set_market(market.address)
    listing_id = market.create_listing(
        COMMITMENT, KEY_HASH, LICENSE, PRICE, 0, 0, sender=seller.address
    )
    purchase_id = _buy(market, listing_id, ACCESS, buyer.address)
    delivery_hash = _deliver(market, purchase_id, seller.address)
    domain = data_market_domain(chain_id, market.address)
    message = {"purchaseId": purchase_id, "deliveryHash": delivery_hash}
    signature = sign_typed(buyer, domain, "Delivery", DELIVERY_TYPES, message)
    market.acknowledge_delivery(purchase_id, signature, sender=seller.address)

    assert evil.pull() == PRICE // 10
    assert evil.attempted()
    assert not evil.reentered()
    assert evil.revert_data() == b""  # the lock's bare revert, not a require message
    assert market.balance_of(evil.address) == 0


# --- the fair exchange ------------------------------------------------------------------------


MODEL = keccak(b"sealed model blob")
MODEL_KEY = keccak(b"the model's AES key")


def _wrap(market, purchase: int, key: bytes) -> WrappedKey:
    chain_id = boa.env.evm.patch.chain_id
    return wrap_key_for(key, DELIVERY_PUBLIC_KEY, chain_id, market.address, purchase)


def _post(market, purchase, seller, wrapped, content=COMMITMENT, committed=KEY_HASH):
    market.deliver(
        purchase,
        wrapped.ephemeral_x,
        wrapped.ephemeral_odd,
        wrapped.wrapped,
        content,
        committed,
        sender=seller,
    )


def _dispute(market, purchase, buyer, wrapped, content=COMMITMENT, committed=KEY_HASH, secret=None):
    return market.dispute(
        purchase,
        DELIVERY_SECRET if secret is None else secret,
        wrapped.ephemeral_x,
        wrapped.ephemeral_odd,
        wrapped.wrapped,
        content,
        committed,
        sender=buyer,
    )


# --- the fair exchange: the exploits -----------------------------------------------------------


def test_a_buyer_who_decrypts_and_never_acknowledges_still_pays(
    market, seller, buyer, fees, purchase_id
):
    wrapped = _wrap(market, purchase_id, CONTENT_KEY)
    _post(market, purchase_id, seller.address, wrapped)
    chain_id = boa.env.evm.patch.chain_id
    # The buyer reads the key from the chain...
    assert unwrap_key(wrapped, DELIVERY_SECRET, chain_id, market.address, purchase_id) == (
        CONTENT_KEY
    )
    # ...signs nothing and waits for the old reclaim deadline: no refund.
    boa.env.time_travel(seconds=WINDOW + 1)
    with boa.reverts("reclaim: purchase not in escrow"):
        market.reclaim(purchase_id, sender=buyer.address)
    # Anyone settles once the dispute window passed: the seller is paid.
    market.settle(purchase_id, sender=fees)
    fee = PRICE * FEE_BPS // 10_000
    assert market.balance_of(seller.address) == PRICE - fee
    assert market.balance_of(buyer.address) == 0
    assert market.purchase(purchase_id).status == SETTLED


def test_a_buyer_cannot_dispute_the_committed_key(market, seller, buyer, purchase_id):
    wrapped = _wrap(market, purchase_id, CONTENT_KEY)
    _post(market, purchase_id, seller.address, wrapped)
    with boa.reverts("dispute: the delivered key matches its commitment"):
        _dispute(market, purchase_id, buyer.address, wrapped)
    assert market.purchase(purchase_id).status == DELIVERED
    assert market.balance_of(buyer.address) == 0


def test_a_seller_who_posts_a_wrong_key_refunds_the_buyer(market, seller, buyer, purchase_id):
    garbage = _wrap(market, purchase_id, keccak(b"not the key"))
    _post(market, purchase_id, seller.address, garbage)
    assert _dispute(market, purchase_id, buyer.address, garbage) == PRICE
    event = _event(market, "Refunded")
    assert (event.purchase_id, event.amount, event.disputed) == (purchase_id, PRICE, True)
    assert market.balance_of(buyer.address) == PRICE
    assert market.purchase(purchase_id).status == REFUNDED
    boa.env.time_travel(seconds=DISPUTE_WINDOW + 1)
    with boa.reverts("settle: purchase not delivered"):
        market.settle(purchase_id, sender=seller.address)
    assert market.balance_of(seller.address) == 0


def test_a_key_wrapped_to_someone_else_is_refunded(market, seller, buyer, purchase_id):
    # The right key, but encrypted to another key than the buyer's: the buyer cannot read it.
    other = wrap_key_for(
        CONTENT_KEY,
        bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
        boa.env.evm.patch.chain_id,
        market.address,
        purchase_id,
    )
    _post(market, purchase_id, seller.address, other)
    assert _dispute(market, purchase_id, buyer.address, other) == PRICE


def test_an_ephemeral_x_off_the_curve_is_refunded(market, seller, buyer, purchase_id):
    # x = 5 has no point on secp256k1 (5**3 + 7 is not a square mod p): nobody can read it.
    bogus = WrappedKey(5, False, keccak(b"anything"))
    _post(market, purchase_id, seller.address, bogus)
    assert _dispute(market, purchase_id, buyer.address, bogus) == PRICE


def test_a_compute_job_with_a_wrong_key_is_refunded_and_a_silent_one_pays(
    market, seller, buyer, listing_id
):
    wrong = _buy(market, listing_id, COMPUTE, buyer.address)
    garbage = _wrap(market, wrong, keccak(b"junk"))
    _post(market, wrong, seller.address, garbage, MODEL, key_hash(MODEL_KEY))
    assert _dispute(market, wrong, buyer.address, garbage, MODEL, key_hash(MODEL_KEY)) > 0

    silent = _buy(market, listing_id, COMPUTE, buyer.address)
    _post(
        market, silent, seller.address, _wrap(market, silent, MODEL_KEY), MODEL, key_hash(MODEL_KEY)
    )
    boa.env.time_travel(seconds=DISPUTE_WINDOW + 1)
    market.settle(silent, sender=seller.address)
    assert market.balance_of(seller.address) > 0


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=st.binary(min_size=32, max_size=32), honest=st.booleans())
def test_a_dispute_succeeds_exactly_when_the_posted_key_is_not_the_committed_one(
    market, seller, buyer, listing_id, key, honest
):
    with boa.env.anchor():
        committed = key_hash(key)
        purchase = _buy(market, listing_id, COMPUTE, buyer.address)
        posted = key if honest else bytes(b ^ 1 for b in key)
        wrapped = _wrap(market, purchase, posted)
        _post(market, purchase, seller.address, wrapped, MODEL, committed)
        if honest:
            with boa.reverts("dispute: the delivered key matches its commitment"):
                _dispute(market, purchase, buyer.address, wrapped, MODEL, committed)
        else:
            assert _dispute(market, purchase, buyer.address, wrapped, MODEL, committed) > 0


def test_a_front_run_price_raise_reverts_the_purchase(market, token, seller, buyer, listing_id):
    before = token.balanceOf(buyer.address)
    market.set_prices(listing_id, 50 * ALT, 0, sender=seller.address)  # in front of the buy
    with boa.reverts("buy: price above max_price"):
        _buy(market, listing_id, ACCESS, buyer.address, max_price=PRICE)
    assert token.balanceOf(buyer.address) == before
    assert market.purchase_count() == 0


def test_a_front_run_price_raise_reverts_a_permit_purchase(market, seller, buyer, listing_id):
    market.set_prices(listing_id, 50 * ALT, 0, sender=seller.address)
    with boa.reverts("buy: price above max_price"):
        market.buy_with_permit(
            listing_id,
            ACCESS,
            PRICE,
            FAR,
            DELIVERY_KEY,
            27,
            b"\0" * 32,
            b"\0" * 32,
            sender=buyer.address,
        )


def test_a_price_at_max_price_is_bought(market, buyer, listing_id):
    assert _buy(market, listing_id, ACCESS, buyer.address, max_price=PRICE) == 1


def test_an_order_mined_after_its_deadline_reverts(market, buyer, listing_id):
    deadline = boa.env.evm.patch.timestamp + 60
    boa.env.time_travel(seconds=61)
    with boa.reverts("buy: order deadline passed"):
        market.buy(listing_id, ACCESS, PRICE, deadline, DELIVERY_KEY, sender=buyer.address)


def test_a_purchase_without_a_delivery_key_reverts(market, buyer, listing_id):
    with boa.reverts("buy: empty delivery key"):
        market.buy(listing_id, ACCESS, PRICE, FAR, "0x" + "00" * 20, sender=buyer.address)


def test_the_fee_recipient_is_fixed_when_the_buyer_pays(
    market, deployer, seller, buyer, fees, purchase_id, acknowledgement
):
    successor = boa.env.generate_address("successor")
    market.set_fee_recipient(successor, sender=deployer)
    assert market.fee_recipient() == successor
    assert market.purchase(purchase_id).fee_recipient == fees
    _post(market, purchase_id, seller.address, _wrap(market, purchase_id, CONTENT_KEY))
    market.acknowledge_delivery(
        purchase_id, acknowledgement(buyer, purchase_id), sender=seller.address
    )
    assert _event(market, "Settled").fee_recipient == fees  # before any view call
    fee = PRICE * FEE_BPS // 10_000
    assert (market.balance_of(fees), market.balance_of(successor)) == (fee, 0)


# --- deliver: who, when, what -----------------------------------------------------------------


def test_delivery_registers_the_hash_and_opens_the_dispute_window(market, seller, purchase_id):
    _post(market, purchase_id, seller.address, _wrap(market, purchase_id, CONTENT_KEY))
    event = _event(market, "Delivered")
    purchase = market.purchase(purchase_id)
    assert (purchase.status, purchase.delivery_key) == (DELIVERED, "0x" + "00" * 20)
    assert purchase.delivery_hash == event.delivery_hash
    assert purchase.deadline == boa.env.evm.patch.timestamp + DISPUTE_WINDOW


def test_delivery_after_the_deadline_reverts(market, seller, purchase_id):
    boa.env.time_travel(seconds=WINDOW + 1)
    with boa.reverts("deliver: delivery deadline passed"):
        _post(market, purchase_id, seller.address, _wrap(market, purchase_id, CONTENT_KEY))
    assert market.purchase(purchase_id).status == ESCROWED


def test_delivery_by_someone_else_reverts(market, buyer, purchase_id):
    with boa.reverts("deliver: caller is not the seller"):
        _post(market, purchase_id, buyer.address, _wrap(market, purchase_id, CONTENT_KEY))


def test_delivering_twice_reverts(market, seller, purchase_id):
    _post(market, purchase_id, seller.address, _wrap(market, purchase_id, CONTENT_KEY))
    with boa.reverts("deliver: purchase not in escrow"):
        _post(market, purchase_id, seller.address, _wrap(market, purchase_id, CONTENT_KEY))


def test_delivering_an_unknown_purchase_reverts(market, seller):
    with boa.reverts("deliver: unknown purchase"):
        _post(market, 5, seller.address, WrappedKey(1, False, b"\0" * 32))


@pytest.mark.parametrize("x", [0, SECP256K1_N])
def test_an_ephemeral_key_out_of_range_reverts(market, seller, purchase_id, x):
    with boa.reverts("deliver: ephemeral key out of range"):
        _post(market, purchase_id, seller.address, WrappedKey(x, False, b"\0" * 32))


def test_an_access_delivery_of_other_content_reverts(market, seller, purchase_id):
    with boa.reverts("deliver: content is not the listed commitment"):
        _post(market, purchase_id, seller.address, _wrap(market, purchase_id, CONTENT_KEY), MODEL)


def test_an_access_delivery_with_another_key_commitment_reverts(market, seller, purchase_id):
    wrapped = _wrap(market, purchase_id, MODEL_KEY)
    with boa.reverts("deliver: key hash is not the listed one"):
        _post(market, purchase_id, seller.address, wrapped, COMMITMENT, key_hash(MODEL_KEY))


@pytest.mark.parametrize(
    ("content", "committed", "reason"),
    [
        (b"\0" * 32, KEY_HASH, "deliver: empty content"),
        (MODEL, b"\0" * 32, "deliver: empty key hash"),
    ],
)
def test_a_compute_delivery_needs_content_and_key_hash(
    market, seller, buyer, listing_id, content, committed, reason
):
    job = _buy(market, listing_id, COMPUTE, buyer.address)
    with boa.reverts(reason):
        _post(market, job, seller.address, _wrap(market, job, MODEL_KEY), content, committed)


# --- dispute and settle: revert paths ---------------------------------------------------------


@pytest.fixture
def delivered(market, seller, purchase_id) -> WrappedKey:
    wrapped = _wrap(market, purchase_id, keccak(b"wrong"))
    _post(market, purchase_id, seller.address, wrapped)
    return wrapped


def test_a_dispute_by_someone_else_reverts(market, seller, purchase_id, delivered):
    with boa.reverts("dispute: caller is not the buyer"):
        _dispute(market, purchase_id, seller.address, delivered)


def test_a_dispute_after_the_window_reverts_and_the_seller_is_paid(
    market, seller, buyer, purchase_id, delivered
):
    boa.env.time_travel(seconds=DISPUTE_WINDOW + 1)
    with boa.reverts("dispute: dispute window closed"):
        _dispute(market, purchase_id, buyer.address, delivered)
    market.settle(purchase_id, sender=seller.address)
    assert market.balance_of(seller.address) > 0


def test_a_dispute_before_delivery_reverts(market, buyer, purchase_id):
    with boa.reverts("dispute: purchase not delivered"):
        _dispute(market, purchase_id, buyer.address, WrappedKey(1, False, b"\0" * 32))


def test_disputing_an_unknown_purchase_reverts(market, buyer):
    with boa.reverts("dispute: unknown purchase"):
        _dispute(market, 4, buyer.address, WrappedKey(1, False, b"\0" * 32))


@pytest.mark.parametrize("secret", [0, SECP256K1_N])
def test_a_dispute_with_a_secret_out_of_range_reverts(
    market, buyer, purchase_id, delivered, secret
):
    with boa.reverts("dispute: secret out of range"):
        _dispute(market, purchase_id, buyer.address, delivered, secret=secret)


def test_a_dispute_with_another_secret_reverts(market, buyer, purchase_id, delivered):
    with boa.reverts("dispute: secret or delivery does not match the purchase"):
        _dispute(market, purchase_id, buyer.address, delivered, secret=DELIVERY_SECRET + 1)


def test_a_dispute_with_an_altered_delivery_reverts(market, buyer, purchase_id, delivered):
    altered = WrappedKey(delivered.ephemeral_x, delivered.ephemeral_odd, keccak(b"other"))
    with boa.reverts("dispute: secret or delivery does not match the purchase"):
        _dispute(market, purchase_id, buyer.address, altered)


def test_settling_inside_the_window_reverts(market, seller, purchase_id, delivered):
    boa.env.time_travel(seconds=DISPUTE_WINDOW)
    with boa.reverts("settle: dispute window not passed"):
        market.settle(purchase_id, sender=seller.address)


def test_settling_an_undelivered_purchase_reverts(market, seller, purchase_id):
    with boa.reverts("settle: purchase not delivered"):
        market.settle(purchase_id, sender=seller.address)


def test_settling_an_unknown_purchase_reverts(market, seller):
    with boa.reverts("settle: unknown purchase"):
        market.settle(8, sender=seller.address)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(price=st.integers(1, 100 * ALT), max_price=st.integers(1, 100 * ALT))
def test_a_purchase_goes_through_exactly_when_the_price_is_within_max_price(
    market, seller, buyer, listing_id, price, max_price
):
    with boa.env.anchor():
        market.set_prices(listing_id, price, 0, sender=seller.address)
        if price <= max_price:
            purchase = _buy(market, listing_id, ACCESS, buyer.address, max_price=max_price)
            assert market.purchase(purchase).amount == price
        else:
            with boa.reverts("buy: price above max_price"):
                _buy(market, listing_id, ACCESS, buyer.address, max_price=max_price)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.lists(st.integers(0, 2), min_size=1, max_size=5))
def test_each_fee_goes_to_the_recipient_in_force_when_its_purchase_was_made(
    market, deployer, seller, buyer, listing_id, acknowledgement, changes
):
    """Purchases interleaved with recipient changes, all settled at the end."""
    recipients = [boa.env.generate_address(f"recipient-{i}") for i in range(3)]
    with boa.env.anchor():
        expected: dict[str, int] = {}
        purchases = []
        for who in changes:
            market.set_fee_recipient(recipients[who], sender=deployer)
            purchases.append(_buy(market, listing_id, COMPUTE, buyer.address))
            fee = COMPUTE_PRICE * FEE_BPS // 10_000
            expected[recipients[who]] = expected.get(recipients[who], 0) + fee
        market.set_fee_recipient(deployer, sender=deployer)  # a change just before settling
        for purchase in purchases:
            _deliver(market, purchase, seller.address)
            signature = acknowledgement(buyer, purchase)
            market.acknowledge_delivery(purchase, signature, sender=seller.address)
        assert {r: market.balance_of(r) for r in recipients if market.balance_of(r)} == expected
        assert market.balance_of(deployer) == 0
