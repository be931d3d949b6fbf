"""Sales end to end on the embedded chain: publish, buy, deliver, acknowledge, settle, log.

The exploits of issue 9 run here against the real contract and service: a buyer who
decrypts and never signs still pays after the dispute window; a seller who posts a wrong
key loses the dispute; a seller's pickle never runs on the buyer's machine; a purchase
paid on chain but not logged (a crash in between) is recorded on the next open.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger.errors import (
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    RevertError,
    UnauthorizedError,
)
from ailedger.market.anonymize import AnonymizationError
from ailedger.market.compute import ComputeJob
from ailedger.market.contract import ContributorShare, Kind, Status
from ailedger.market.delivery import public_key_of_account
from ailedger.market.exchange import wrap_key_for
from ailedger.market.patients import DIAGNOSIS, PATIENT_POLICY, pooled_records, synthetic_patients
from ailedger.market.records import ACCESS_RECORD, COMPUTE_RECORD, REFUND_RECORD
from ailedger.market.service import DataSeller

ALT = 10**18
PRICE = 50 * ALT
COMPUTE_PRICE = 20 * ALT
LICENSE = "research only"


@pytest.fixture(scope="module")
def records():
    return pooled_records(synthetic_patients(48))


@pytest.fixture
def listing_id(world, records) -> int:
    published = world.seller.publish(
        records,
        PATIENT_POLICY,
        title="biopsies",
        license_text=LICENSE,
        price=PRICE,
        compute_price=COMPUTE_PRICE,
    )
    return published.listing_id


def _alt_balance(world, account) -> int:
    return world.market.token.balanceOf(account.address)


def _deliver(world, purchase_id: int, buyer=None):
    buyer = buyer or world.buyer
    return world.seller.deliver_access(purchase_id, buyer.delivery_public_key(purchase_id))


def _short_windows(world) -> None:
    """Delivery and dispute windows of 60 s (the minimum), set by the market's owner."""
    world.market.contract.set_dispute_window(60, sender=world.operator)
    world.market.contract.set_delivery_window(60, sender=world.operator)


def _let_time_pass(world, seconds: int) -> None:
    # Every embedded block is at least one second after its parent: mining N blocks moves
    # the chain's clock N seconds forward, whatever the wall clock does.
    for _ in range(seconds + 1):
        world.platform.chain.transact(world.operator, world.operator.address, value=0)


def test_publish_lists_the_sealed_release_under_its_commitment(world, records, listing_id):
    listing = world.market.listing(listing_id)
    entry = world.catalog.dataset(listing_id)
    assert listing.commitment.hex() == entry.blob_address
    assert (listing.price, listing.compute_price, listing.active) == (PRICE, COMPUTE_PRICE, True)
    assert entry.gate_report["passed"] is True
    assert "name" not in entry.columns and "patient_id" not in entry.columns


def test_the_catalog_never_holds_the_dataset_key_in_the_clear(world, listing_id):
    entry = world.catalog.dataset(listing_id)
    assert len(entry.owner_wrapped_key) == 94  # ECIES-wrapped to the seller, not a raw key


def test_a_dataset_failing_the_gate_is_not_stored_or_listed(world, records):
    before = set(world.store.root.rglob("*")) if world.store.root.exists() else set()
    with pytest.raises(AnonymizationError) as refused:
        world.seller.publish(
            records.head(6), PATIENT_POLICY, title="tiny", license_text=LICENSE, price=PRICE
        )
    assert refused.value.report.too_small_groups
    assert world.market.contract.listing_count() == 0
    after = set(world.store.root.rglob("*")) if world.store.root.exists() else set()
    assert after == before


def test_an_access_sale_delivers_the_rows_and_pays_the_seller(world, listing_id):
    purchase_id = world.buyer.buy_access(listing_id)
    _deliver(world, purchase_id)
    frame, signature = world.buyer.receive_dataset(purchase_id)
    settlement = world.seller.settle(purchase_id, signature)

    assert len(frame) == world.catalog.dataset(listing_id).rows
    assert world.market.purchase(purchase_id).status == Status.SETTLED
    fee = PRICE * world.market.contract.fee_bps() // 10_000
    assert world.market.balance_of(world.seller.account.address) == PRICE - fee
    assert settlement.leaf_index == 0


def test_the_access_is_recorded_on_the_log_without_data(world, listing_id):
    purchase_id = world.buyer.buy_access(listing_id)
    _deliver(world, purchase_id)
    _, signature = world.buyer.receive_dataset(purchase_id)
    settlement = world.seller.settle(purchase_id, signature)
    record = json.loads(world.log.record(settlement.leaf_index))
    assert record["type"] == ACCESS_RECORD
    assert record["dataset_commitment"] == "0x" + world.market.listing(listing_id).commitment.hex()
    assert record["buyer"] == world.buyer.account.address
    assert record["amount"] == PRICE
    assert "mean radius" not in json.dumps(record)


def test_a_compute_job_returns_a_model_and_logs_job_hash_and_payment(world, listing_id):
    purchase_id = world.other.order_compute(listing_id)
    job = ComputeJob("logistic_regression", target=DIAGNOSIS)
    delivery = world.seller.deliver_compute(
        purchase_id, job, world.other.delivery_public_key(purchase_id)
    )
    model, signature = world.other.receive_model(purchase_id, delivery.model_hash)
    settlement = world.seller.settle(purchase_id, signature)

    assert hasattr(model, "predict")
    assert world.market.purchase(purchase_id).delivery_hash == delivery.delivery_hash
    record = json.loads(world.log.record(settlement.leaf_index))
    assert record["type"] == COMPUTE_RECORD
    assert record["model_hash"] == delivery.model_hash
    assert record["job"]["estimator"] == "logistic_regression"
    assert record["amount"] == COMPUTE_PRICE
    assert record["metrics"]["accuracy"] > 0.5
    assert not world.market.has_access(listing_id, world.other.account.address)


def test_a_compute_job_outside_the_allow_list_is_refused_before_anything_runs(world, listing_id):
    with pytest.raises(InvalidInputError, match="allow-list"):
        ComputeJob("svc", target=DIAGNOSIS)


def test_a_job_that_cannot_run_is_refused_before_the_buyer_pays(world, listing_id):
    before = (_alt_balance(world, world.other.account), world.market.contract.purchase_count())
    with pytest.raises(InvalidInputError) as refused:
        world.seller.check_job(listing_id, ComputeJob("decision_tree", target="mean radius"))
    assert refused.value.field == "target"
    after = (_alt_balance(world, world.other.account), world.market.contract.purchase_count())
    assert after == before


def test_a_job_that_can_run_passes_the_check(world, listing_id):
    world.seller.check_job(listing_id, ComputeJob("decision_tree", target=DIAGNOSIS))


def test_checking_a_job_on_a_listing_not_in_the_catalog_is_not_found(world):
    with pytest.raises(NotFoundError, match="not in this seller's catalog"):
        world.seller.check_job(9, ComputeJob("decision_tree", target=DIAGNOSIS))


def _stored(world) -> set:
    return set(world.store.root.rglob("*")) if world.store.root.exists() else set()


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"price": 0}, "price"),
        ({"compute_price": -1}, "compute_price"),
        ({"pool_id": -1}, "pool_id"),
    ],
)
def test_publishing_with_bad_terms_stores_and_lists_nothing(world, records, terms, field):
    before = _stored(world)
    with pytest.raises(InvalidInputError) as refused:
        world.seller.publish(
            records, PATIENT_POLICY, title="t", license_text=LICENSE, **{"price": PRICE, **terms}
        )
    assert refused.value.field == field
    assert _stored(world) == before
    assert world.market.contract.listing_count() == 0


def test_publishing_into_someone_elses_pool_stores_and_lists_nothing(world, records):
    pool_id = world.market.create_pool(world.buyer.account, b"\4" * 32)
    before = _stored(world)
    with pytest.raises(UnauthorizedError) as refused:
        world.seller.publish(
            records, PATIENT_POLICY, title="t", license_text=LICENSE, price=PRICE, pool_id=pool_id
        )
    assert refused.value.field == "pool_id"
    assert _stored(world) == before
    assert world.market.contract.listing_count() == 0


def test_publishing_into_an_unknown_pool_stores_nothing(world, records):
    before = _stored(world)
    with pytest.raises(RevertError, match="unknown pool"):
        world.seller.publish(
            records, PATIENT_POLICY, title="t", license_text=LICENSE, price=PRICE, pool_id=5
        )
    assert _stored(world) == before


def test_only_the_buyers_delivery_key_opens_the_delivery(world, listing_id):
    purchase_id = world.buyer.buy_access(listing_id)
    _deliver(world, purchase_id)
    with pytest.raises(NotFoundError, match="delivery key"):
        world.other.receive_dataset(purchase_id)


def test_the_seller_refuses_to_wrap_for_another_key_than_the_purchase_names(world, listing_id):
    purchase_id = world.buyer.buy_access(listing_id)
    with pytest.raises(UnauthorizedError, match="expected the purchase's delivery key"):
        world.seller.deliver_access(purchase_id, world.buyer.public_key)
    with pytest.raises(NotFoundError):
        world.catalog.delivery(purchase_id)


def test_every_purchase_gets_a_fresh_delivery_key(world, listing_id):
    first = world.other.order_compute(listing_id)
    second = world.other.order_compute(listing_id)
    keys = [world.market.purchase(p).delivery_key for p in (first, second)]
    assert len(set(keys)) == 2
    assert world.other.account.address not in keys


def test_a_forged_acknowledgement_reverts_and_pays_nobody(world, listing_id):
    purchase_id = world.buyer.buy_access(listing_id)
    delivery = _deliver(world, purchase_id)
    forged = world.market.sign_delivery(world.other.account, purchase_id, delivery.delivery_hash)
    with pytest.raises(RevertError) as reverted:
        world.seller.settle(purchase_id, forged)
    assert reverted.value.reason == "acknowledge_delivery: signature is not the buyer's"
    assert world.market.balance_of(world.seller.account.address) == 0
    assert world.market.purchase(purchase_id).status == Status.DELIVERED
    assert world.log.size == 0


def test_buying_an_inactive_listing_reverts_with_balances_unchanged(world, listing_id):
    world.market.set_active(world.seller.account, listing_id, False)
    before = _alt_balance(world, world.buyer.account)
    with pytest.raises(RevertError) as reverted:
        world.buyer.buy_access(listing_id)
    assert reverted.value.reason == "buy: listing is not active"
    assert _alt_balance(world, world.buyer.account) == before


def test_buying_an_already_bought_listing_reverts(world, listing_id):
    world.buyer.buy_access(listing_id)
    before = _alt_balance(world, world.buyer.account)
    with pytest.raises(RevertError, match="already bought"):
        world.buyer.buy_access(listing_id)
    assert _alt_balance(world, world.buyer.account) == before


def test_buying_without_allowance_reverts(world, listing_id):
    with pytest.raises(RevertError) as reverted:
        world.market.buy_with_allowance(
            world.buyer.account, listing_id, Kind.ACCESS, delivery_key=world.buyer.account.address
        )
    assert reverted.value.reason == "buy: allowance below price"


def test_an_unauthorized_delist_reverts(world, listing_id):
    with pytest.raises(RevertError, match="caller is not the seller"):
        world.market.set_active(world.buyer.account, listing_id, False)
    assert world.market.listing(listing_id).active


def test_delivering_an_unknown_purchase_fails(world, listing_id):
    with pytest.raises(RevertError, match="unknown purchase"):
        world.seller.deliver_access(99, world.buyer.public_key)  # before any key check


def test_delivering_access_for_a_compute_purchase_is_refused(world, listing_id):
    purchase_id = world.buyer.order_compute(listing_id)
    with pytest.raises(InvalidInputError, match="expected a purchase of kind access"):
        world.seller.deliver_access(purchase_id, world.buyer.public_key)


@pytest.mark.parametrize(
    ("price", "field"), [(0, "price"), (2_000_000 * ALT, "price"), (-1, "price"), (1.5, "price")]
)
def test_a_bad_price_is_refused_before_any_transaction(world, price, field):
    nonce = world.platform.chain.nonce(world.seller.account.address)
    with pytest.raises(InvalidInputError) as refused:
        world.market.create_listing(
            world.seller.account,
            commitment=b"\1" * 32,
            key_hash=b"\5" * 32,
            license_hash=b"\2" * 32,
            price=price,
        )
    assert refused.value.field == field
    assert world.platform.chain.nonce(world.seller.account.address) == nonce


@pytest.mark.parametrize(
    ("records", "quality", "field"),
    [(0, 10_000, "records"), (1, 0, "quality_bps"), (1, 10_001, "quality_bps")],
)
def test_a_bad_share_is_refused(records, quality, field):
    with pytest.raises(InvalidInputError) as refused:
        ContributorShare("0x" + "11" * 20, records, quality)
    assert refused.value.field == field


def test_a_pool_sale_pays_every_contributor_and_they_withdraw(world, records):
    from eth_account import Account

    wallets = [Account.create() for _ in range(3)]
    for wallet in wallets:
        world.platform.chain.transact(world.operator, wallet.address, value=10**17)
    hospital = world.seller.account
    pool_id = world.market.create_pool(hospital, b"\3" * 32)
    world.market.join(hospital, pool_id, [ContributorShare(w.address, 1) for w in wallets])
    listing_id = world.seller.publish(
        records, PATIENT_POLICY, title="pool", license_text=LICENSE, price=PRICE, pool_id=pool_id
    ).listing_id
    purchase_id = world.buyer.buy_access(listing_id)
    _deliver(world, purchase_id)
    world.seller.settle(purchase_id, world.buyer.receive_dataset(purchase_id)[1])

    proceeds = PRICE - PRICE * world.market.contract.fee_bps() // 10_000
    assert [world.market.earned(pool_id, w.address) for w in wallets] == [proceeds // 3] * 3
    assert world.market.contributors(pool_id) == [w.address for w in wallets]
    assert world.market.claim_and_withdraw(wallets[0], pool_id) == proceeds // 3
    assert world.market.token.balanceOf(wallets[0].address) == proceeds // 3
    with pytest.raises(RevertError, match="nothing to withdraw"):
        world.market.claim_and_withdraw(wallets[0], pool_id)


def test_public_key_of_account_opens_what_is_wrapped_to_it(world):
    assert len(public_key_of_account(world.buyer.account)) == 33


def test_the_market_is_reused_on_a_second_open(world):
    from ailedger.market.contract import open_market

    assert open_market(world.platform, deploy_if_missing=True).address == world.market.address
    assert open_market(world.platform).address == world.market.address


def test_opening_an_undeployed_market_is_a_not_found_error(settings):
    from ailedger.market.contract import open_market
    from ailedger.platform import Platform

    with Platform.open(settings) as platform:
        platform.deploy_core_contracts()
        with pytest.raises(NotFoundError, match="DataMarket is not deployed"):
            open_market(platform)


def test_kind_values_match_the_contract(world):
    assert (
        world.market.contract.KIND_ACCESS(),
        world.market.contract.KIND_COMPUTE(),
    ) == (Kind.ACCESS, Kind.COMPUTE)


# --- the exploits of issue 9 and the gap repair of issue 10 -----------------------------------


def test_a_buyer_who_decrypts_and_never_signs_pays_after_the_dispute_window(world, listing_id):
    _short_windows(world)
    purchase_id = world.buyer.buy_access(listing_id)
    _deliver(world, purchase_id)
    frame, _unsent_signature = world.buyer.receive_dataset(purchase_id)  # the rows, for free?
    assert len(frame) > 0
    with pytest.raises(RevertError, match="dispute: the delivered key matches its commitment"):
        world.buyer.dispute(purchase_id)
    _let_time_pass(world, 61)
    with pytest.raises(RevertError, match="reclaim: purchase not in escrow"):
        world.market.reclaim(world.buyer.account, purchase_id)
    settlement = world.seller.settle(purchase_id)  # no signature needed any more
    fee = PRICE * world.market.contract.fee_bps() // 10_000
    assert world.market.balance_of(world.seller.account.address) == PRICE - fee
    assert json.loads(world.log.record(settlement.leaf_index))["purchase_id"] == purchase_id


def test_a_seller_who_posts_a_wrong_key_loses_the_dispute(world, listing_id):
    _short_windows(world)
    purchase_id = world.buyer.buy_access(listing_id)
    listing = world.market.listing(listing_id)
    garbage = wrap_key_for(
        keccak(b"not the dataset key"),
        world.buyer.delivery_public_key(purchase_id),
        world.platform.chain.chain_id,
        world.market.address,
        purchase_id,
    )
    world.market.deliver(
        world.seller.account, purchase_id, garbage, listing.commitment, listing.key_hash
    )
    with pytest.raises(IntegrityError, match="not the committed one"):
        world.buyer.receive_dataset(purchase_id)
    assert world.buyer.dispute(purchase_id) == PRICE
    assert world.market.balance_of(world.buyer.account.address) == PRICE
    _let_time_pass(world, 61)
    with pytest.raises(RevertError, match="settle: purchase not delivered"):
        world.seller.settle(purchase_id)
    assert world.market.balance_of(world.seller.account.address) == 0
    record = json.loads(world.log.record(world.seller.record_payments()[purchase_id]))
    assert (record["type"], record["disputed"]) == (REFUND_RECORD, True)


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_sellers_pickle_is_refused_and_never_runs(world, listing_id, tmp_path):
    marker = tmp_path / "the seller ran code here"
    payload = pickle.dumps(_Payload(str(marker)))
    purchase_id = world.other.order_compute(listing_id)
    sealed = world.store.put(payload)
    wrapped = wrap_key_for(
        sealed.key,
        world.other.delivery_public_key(purchase_id),
        world.platform.chain.chain_id,
        world.market.address,
        purchase_id,
    )
    world.market.deliver(
        world.seller.account,
        purchase_id,
        wrapped,
        bytes.fromhex(sealed.address),
        keccak(sealed.key),
    )
    with pytest.raises(IntegrityError, match="not a skops model file"):
        world.other.receive_model(purchase_id, hashlib.sha256(payload).hexdigest())
    assert not marker.exists()


def test_a_price_raised_in_front_of_a_purchase_reverts_it(world, listing_id):
    before = _alt_balance(world, world.buyer.account)
    world.market.contract.set_prices(listing_id, 10 * PRICE, 0, sender=world.seller.account)
    with pytest.raises(RevertError) as reverted:
        world.buyer.buy_access(listing_id, max_price=PRICE)
    assert reverted.value.reason == "buy: price above max_price"
    assert _alt_balance(world, world.buyer.account) == before


def test_a_payment_without_its_record_is_recorded_on_the_next_open(world, listing_id):
    purchase_id = world.buyer.buy_access(listing_id)
    _deliver(world, purchase_id)
    _, signature = world.buyer.receive_dataset(purchase_id)
    # Paid on chain, then the process dies before it writes the log: the gap.
    world.market.acknowledge_delivery(world.seller.account, purchase_id, signature)
    assert world.log.size == 0

    reopened = DataSeller(world.market, world.seller.account, world.store, world.catalog, world.log)
    recorded = reopened.record_payments()
    record = json.loads(world.log.record(recorded[purchase_id]))
    assert (record["type"], record["purchase_id"], record["amount"]) == (
        ACCESS_RECORD,
        purchase_id,
        PRICE,
    )
    assert reopened.record_payments() == recorded  # nothing twice
    assert world.log.size == 1


def test_the_seller_refuses_a_delivery_key_used_by_another_purchase(world, listing_id):
    reused = world.market.purchase(world.other.order_compute(listing_id)).delivery_key
    purchase_id = world.market.buy(
        world.other.account, listing_id, Kind.COMPUTE, delivery_key=reused
    )
    job = ComputeJob("decision_tree", target=DIAGNOSIS)
    with pytest.raises(UnauthorizedError, match="used by another purchase"):
        world.seller.deliver_compute(purchase_id, job, world.other.delivery_public_key(purchase_id))


def test_a_listing_whose_catalog_entry_a_crash_lost_is_adopted_and_its_sales_recorded(
    world, records, monkeypatch
):
    # The process dies right after the listing transaction, before the catalog files it.
    def crash(*_args):
        raise KeyboardInterrupt("killed after the listing transaction")

    monkeypatch.setattr(world.catalog, "list_pending", crash)
    with pytest.raises(KeyboardInterrupt):
        world.seller.publish(records, PATIENT_POLICY, title="t", license_text=LICENSE, price=PRICE)
    monkeypatch.undo()
    listing_id = world.market.contract.listing_count()
    with pytest.raises(NotFoundError):
        world.catalog.dataset(listing_id)

    world.seller.record_payments()  # what every market command does first
    assert world.catalog.dataset(listing_id).title == "t"
    assert world.catalog.pending() == []
    purchase_id = world.buyer.buy_access(listing_id)
    _deliver(world, purchase_id)  # the seller still holds the listing's key
    settlement = world.seller.settle(purchase_id, world.buyer.receive_dataset(purchase_id)[1])
    assert settlement.leaf_index is not None


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=3))
def test_every_payment_is_on_the_log_exactly_once_whatever_was_interrupted(world, listing_id, plan):
    """Each sale is settled with or without the log (a crash), repaired now or later."""
    unlogged = DataSeller(world.market, world.seller.account, world.store, world.catalog)
    job = ComputeJob("decision_tree", target=DIAGNOSIS, params={"max_depth": 2})
    for logged, repair_now in plan:
        purchase_id = world.other.order_compute(listing_id)
        delivery = world.seller.deliver_compute(
            purchase_id, job, world.other.delivery_public_key(purchase_id)
        )
        _, signature = world.other.receive_model(purchase_id, delivery.model_hash)
        (world.seller if logged else unlogged).settle(purchase_id, signature)
        if repair_now:
            world.seller.record_payments()
    recorded = world.seller.record_payments()
    paid = [e.args["purchase_id"] for e in world.market.payment_events()]
    on_log = [json.loads(world.log.record(i))["purchase_id"] for i in range(world.log.size)]
    assert sorted(on_log) == sorted(paid) == sorted(recorded)
