"""DataMarket pools: shares, revenue-per-share payouts on every sale, leaving, claiming.

A sale pays the shares in force when it was bought: shares are frozen while a sale of
the pool is open (exploit of issue 9: a curator adding a sybil, or emptying the pool,
around settlement took the whole sale).
"""

from __future__ import annotations

import json
from fractions import Fraction

import boa
import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger import contracts
from ailedger.contracts.typed_data import DELIVERY_TYPES, data_market_domain
from ailedger.core.identity import sign_typed
from tests.contracts.test_data_market import (
    COMMITMENT,
    DELIVERY_KEY,
    FAR,
    KEY_HASH,
    MAX_PRICE,
    _deliver,
)

ZERO = "0x0000000000000000000000000000000000000000"
ALT = 10**18
PRICE = 10 * ALT
FEE_BPS = 500
WINDOW = 86_400
DISPUTE_WINDOW = 3_600
FULL = 10_000  # quality weight in basis points
MAX_RECORDS = 1_000_000
METADATA = keccak(b"breast-cancer pool v1")


@pytest.fixture
def token(deploy):
    return deploy("ALTToken")


@pytest.fixture
def fees() -> str:
    return boa.env.generate_address("fees")


@pytest.fixture
def market(token, fees, deployer):
    artifact = contracts.load("DataMarket")
    args = encode(
        ["address", "address", "uint256", "uint64", "uint64"],
        [token.address, fees, FEE_BPS, WINDOW, DISPUTE_WINDOW],
    )
    address, _ = boa.env.deploy_code(bytecode=artifact.bytecode + args, sender=deployer)
    return boa.loads_abi(json.dumps(artifact.abi), name="DataMarket").at(address)


@pytest.fixture
def curator(bob) -> LocalAccount:
    return bob


@pytest.fixture
def patients() -> list[str]:
    return [boa.env.generate_address(f"patient-{i}") for i in range(3)]


@pytest.fixture
def pool_id(market, curator) -> int:
    return market.create_pool(METADATA, sender=curator.address)


@pytest.fixture
def listing_id(market, curator, pool_id) -> int:
    return market.create_listing(
        COMMITMENT, KEY_HASH, keccak(b"license"), PRICE, 0, pool_id, sender=curator.address
    )


PROCEEDS = PRICE - PRICE * FEE_BPS // 10_000


@pytest.fixture
def buy(market, token, deployer, listing_id):
    """A fresh buyer pays the pool's listing into escrow; return (buyer, purchase id)."""
    counter = iter(range(10**6))

    def _buy() -> tuple[LocalAccount, int]:
        buyer = Account.from_key(keccak(f"buyer-{next(counter)}".encode()))
        token.mint(buyer.address, PRICE, sender=deployer)
        token.approve(market.address, PRICE, sender=buyer.address)
        purchase = market.buy(listing_id, 0, MAX_PRICE, FAR, DELIVERY_KEY, sender=buyer.address)
        return buyer, purchase

    return _buy


@pytest.fixture
def settle(market, curator, chain_id):
    """Deliver an open purchase and settle it with its buyer's acknowledgement."""

    def _settle(buyer: LocalAccount, purchase_id: int) -> int:
        delivery_hash = _deliver(market, purchase_id, curator.address)
        domain = data_market_domain(chain_id, market.address)
        message = {"purchaseId": purchase_id, "deliveryHash": delivery_hash}
        signature = sign_typed(buyer, domain, "Delivery", DELIVERY_TYPES, message)
        market.acknowledge_delivery(purchase_id, signature, sender=curator.address)
        return PROCEEDS

    return _settle


@pytest.fixture
def sell(buy, settle):
    """Sell the pool's listing to a fresh buyer and settle it; return the proceeds."""
    return lambda: settle(*buy())


def _event(contract, name: str):
    return next(e for e in contract.get_logs() if type(e).__name__ == name)


def _join(market, pool_id, curator, patients, records, quality=None):
    quality = quality or [FULL] * len(patients)
    market.join_many(pool_id, patients, records, quality, sender=curator.address)


# --- creating and joining ---------------------------------------------------------------------


def test_create_pool_records_the_curator(market, curator):
    pool_id = market.create_pool(METADATA, sender=curator.address)
    event = _event(market, "PoolCreated")
    assert (event.pool_id, event.curator, event.metadata_hash) == (1, curator.address, METADATA)
    pool = market.pool(pool_id)
    assert (pool.curator, pool.metadata_hash, pool.total_shares) == (curator.address, METADATA, 0)
    assert market.pool_count() == 1


def test_create_pool_with_empty_metadata_reverts(market, curator):
    with boa.reverts("create_pool: empty metadata hash"):
        market.create_pool(b"\0" * 32, sender=curator.address)


def test_unknown_pool_reverts(market):
    with boa.reverts("pool: unknown pool"):
        market.pool(1)


def test_join_records_records_times_quality_as_shares(market, curator, pool_id, patients):
    market.join(pool_id, patients[0], 3, 5_000, sender=curator.address)
    event = _event(market, "ShareChanged")
    assert (event.contributor, event.shares, event.total_shares) == (patients[0], 15_000, 15_000)
    assert tuple(market.contributor(pool_id, patients[0])) == (15_000, 3, 5_000, 0, 0)
    pool = market.pool(pool_id)
    assert (pool.total_shares, pool.contributors) == (15_000, 1)


def test_join_many_records_every_contributor(market, curator, pool_id, patients):
    _join(market, pool_id, curator, patients, [1, 2, 3])
    assert [market.contributor(pool_id, p).records for p in patients] == [1, 2, 3]
    assert market.pool(pool_id).total_shares == 6 * FULL
    assert market.pool(pool_id).contributors == 3


def test_join_by_non_curator_reverts(market, pool_id, patients, mallory):
    with boa.reverts("join: caller is not the pool curator"):
        market.join(pool_id, mallory.address, 100, FULL, sender=mallory.address)
    assert market.pool(pool_id).total_shares == 0


def test_join_many_by_non_curator_reverts(market, pool_id, patients, mallory):
    with boa.reverts("join_many: caller is not the pool curator"):
        market.join_many(pool_id, patients, [1] * 3, [FULL] * 3, sender=mallory.address)


def test_join_of_unknown_pool_reverts(market, curator, patients):
    with boa.reverts("join: unknown pool"):
        market.join(7, patients[0], 1, FULL, sender=curator.address)


@pytest.mark.parametrize(
    ("records", "quality", "reason"),
    [
        (0, FULL, "join: records out of range"),
        (MAX_RECORDS + 1, FULL, "join: records out of range"),
        (1, 0, "join: quality out of range"),
        (1, FULL + 1, "join: quality out of range"),
    ],
)
def test_join_with_bad_share_reverts(market, curator, pool_id, patients, records, quality, reason):
    with boa.reverts(reason):
        market.join(pool_id, patients[0], records, quality, sender=curator.address)


def test_join_of_the_zero_address_reverts(market, curator, pool_id):
    with boa.reverts("join: contributor is the zero address"):
        market.join(pool_id, ZERO, 1, FULL, sender=curator.address)


def test_join_many_of_unknown_pool_reverts(market, curator, patients):
    with boa.reverts("join_many: unknown pool"):
        _join(market, 7, curator, patients, [1, 1, 1])


@pytest.mark.parametrize(
    ("records", "quality", "reason"),
    [
        (MAX_RECORDS + 1, FULL, "join_many: records out of range"),
        (1, 0, "join_many: quality out of range"),
        (1, FULL + 1, "join_many: quality out of range"),
    ],
)
def test_join_many_with_a_bad_share_reverts(
    market, curator, pool_id, patients, records, quality, reason
):
    with boa.reverts(reason):
        _join(market, pool_id, curator, patients, [1, records, 1], [FULL, quality, FULL])
    assert market.pool(pool_id).contributors == 0


def test_join_many_of_the_zero_address_reverts(market, curator, pool_id, patients):
    with boa.reverts("join_many: contributor is the zero address"):
        _join(market, pool_id, curator, [patients[0], ZERO], [1, 1])
    assert market.pool(pool_id).total_shares == 0


def test_join_many_with_mismatched_arrays_reverts(market, curator, pool_id, patients):
    with boa.reverts("join_many: array lengths differ"):
        market.join_many(pool_id, patients, [1, 1], [FULL] * 3, sender=curator.address)
    assert market.pool(pool_id).contributors == 0


def test_join_many_is_all_or_nothing(market, curator, pool_id, patients):
    with boa.reverts("join_many: records out of range"):
        market.join_many(pool_id, patients, [1, 0, 1], [FULL] * 3, sender=curator.address)
    assert market.pool(pool_id).contributors == 0


# --- payouts ----------------------------------------------------------------------------------


def test_a_sale_credits_every_contributor_in_proportion(market, curator, pool_id, patients, sell):
    _join(market, pool_id, curator, patients, [1, 2, 5])
    proceeds = sell()
    earned = [market.earned(pool_id, p) for p in patients]
    assert earned == [proceeds * 1 // 8, proceeds * 2 // 8, proceeds * 5 // 8]
    assert market.pool(pool_id).revenue == proceeds
    assert market.balance_of(curator.address) == 0


def test_a_sale_of_a_pool_listing_logs_the_pool_revenue(market, curator, pool_id, patients, sell):
    _join(market, pool_id, curator, patients, [1, 1, 1])
    proceeds = sell()
    event = _event(market, "Settled")
    assert event.proceeds == proceeds
    assert market.pool(pool_id).acc_per_share == proceeds * 10**18 // (3 * FULL)


def test_quality_weight_scales_the_payout(market, curator, pool_id, patients, sell):
    _join(market, pool_id, curator, patients[:2], [4, 4], [FULL, FULL // 2])
    proceeds = sell()
    full, half = (market.earned(pool_id, p) for p in patients[:2])
    assert (full, half) == (proceeds * 2 // 3, proceeds // 3)


def test_earnings_accumulate_over_sales(market, curator, pool_id, patients, sell):
    _join(market, pool_id, curator, patients, [1, 1, 2])
    proceeds = sell() + sell() + sell()
    assert market.earned(pool_id, patients[2]) == proceeds // 2


def test_uneven_revenue_is_carried_so_no_wei_is_lost(market, curator, pool_id, patients, sell):
    _join(market, pool_id, curator, patients, [1, 1, 1])  # proceeds do not divide by 3
    total = sum(sell() for _ in range(5))
    pool = market.pool(pool_id)
    credited = sum(market.earned(pool_id, p) for p in patients)
    assert total * 10**18 == pool.acc_per_share * pool.total_shares + pool.remainder
    assert 0 <= total - credited < len(patients)


def test_a_late_joiner_earns_nothing_from_earlier_sales(market, curator, pool_id, patients, sell):
    _join(market, pool_id, curator, patients[:2], [1, 1])
    first = sell()
    market.join(pool_id, patients[2], 2, FULL, sender=curator.address)
    second = sell()
    assert market.earned(pool_id, patients[2]) == second // 2
    assert market.earned(pool_id, patients[0]) == first // 2 + second // 4


def test_an_empty_pool_cannot_be_bought_from(market, token, curator, pool_id, buy):
    with boa.reverts("buy: pool has no contributors"):
        buy()
    assert market.balance_of(curator.address) == 0
    assert token.balanceOf(market.address) == 0


def test_a_contributor_share_is_capped_at_max_records(market, curator, pool_id, patients):
    market.join(pool_id, patients[0], MAX_RECORDS, FULL, sender=curator.address)
    assert market.contributor(pool_id, patients[0]).shares == MAX_RECORDS * FULL


# --- shares frozen while a sale is open (issue 9, item 7) -------------------------------------


def test_a_sybil_added_around_settlement_gets_nothing_of_an_earlier_sale(
    market, curator, pool_id, patients, buy, settle
):
    _join(market, pool_id, curator, patients, [1, 1, 2])
    buyer, purchase = buy()
    sybil = boa.env.generate_address("sybil")
    with boa.reverts("join: pool has open sales"):
        market.join(pool_id, sybil, MAX_RECORDS, FULL, sender=curator.address)
    with boa.reverts("join_many: pool has open sales"):
        market.join_many(pool_id, [sybil], [MAX_RECORDS], [FULL], sender=curator.address)
    proceeds = settle(buyer, purchase)
    market.join(pool_id, sybil, MAX_RECORDS, FULL, sender=curator.address)  # now it may
    assert market.earned(pool_id, sybil) == 0
    assert [market.earned(pool_id, p) for p in patients] == [
        proceeds // 4,
        proceeds // 4,
        proceeds // 2,
    ]


def test_contributors_removed_after_purchase_keep_that_sale(
    market, curator, pool_id, patients, buy, settle
):
    _join(market, pool_id, curator, patients, [1, 1, 2])
    buyer, purchase = buy()
    with boa.reverts("remove_contributor: pool has open sales"):
        market.remove_contributor(pool_id, patients[0], sender=curator.address)
    with boa.reverts("leave: pool has open sales"):
        market.leave(pool_id, sender=patients[1])
    assert market.pool(pool_id).open_sales == 1
    proceeds = settle(buyer, purchase)
    assert market.pool(pool_id).open_sales == 0
    market.remove_contributor(pool_id, patients[0], sender=curator.address)
    market.leave(pool_id, sender=patients[1])
    assert market.balance_of(patients[0]) == proceeds // 4
    assert market.balance_of(patients[1]) == proceeds // 4
    assert market.earned(pool_id, patients[2]) == proceeds // 2


def test_contributors_added_after_purchase_do_not_dilute_it(
    market, curator, pool_id, patients, buy, settle
):
    _join(market, pool_id, curator, patients[:2], [1, 1])
    first = buy()
    second = buy()
    proceeds = settle(*first)
    with boa.reverts("join: pool has open sales"):
        market.join(pool_id, patients[2], 1, FULL, sender=curator.address)
    proceeds += settle(*second)
    market.join(pool_id, patients[2], 1, FULL, sender=curator.address)
    assert market.earned(pool_id, patients[0]) == proceeds // 2
    assert market.earned(pool_id, patients[2]) == 0


def test_a_refunded_sale_unfreezes_the_pool(market, curator, pool_id, patients, buy):
    _join(market, pool_id, curator, patients, [1, 1, 1])
    _, purchase = buy()
    boa.env.time_travel(seconds=WINDOW + 1)
    market.reclaim(purchase, sender=curator.address)  # anyone may close an abandoned sale
    assert market.pool(pool_id).open_sales == 0
    assert market.pool(pool_id).revenue == 0
    market.leave(pool_id, sender=patients[0])
    assert market.balance_of(patients[0]) == 0


def test_sale_gas_does_not_grow_with_contributors(market, curator, pool_id, sell):
    def ack_gas() -> int:
        before = boa.env.get_gas_used()
        sell()
        return boa.env.get_gas_used() - before

    many = [boa.env.generate_address(f"c{i}") for i in range(200)]
    market.join(pool_id, many[0], 1, FULL, sender=curator.address)
    sell()  # first sale warms the pool's storage slots
    with_one = ack_gas()
    market.join_many(pool_id, many[1:], [1] * 199, [FULL] * 199, sender=curator.address)
    with_two_hundred = ack_gas()
    assert with_one > 100_000  # buy + acknowledge really ran under a gas meter
    assert with_two_hundred == with_one


# --- changing shares, leaving -----------------------------------------------------------------


def test_changing_a_share_settles_what_the_old_share_earned(
    market, curator, pool_id, patients, sell
):
    _join(market, pool_id, curator, patients[:2], [1, 1])
    first = sell()
    market.join(pool_id, patients[0], 3, FULL, sender=curator.address)
    assert market.balance_of(patients[0]) == first // 2
    assert market.contributor(pool_id, patients[0]).records == 3
    second = sell()
    assert market.earned(pool_id, patients[0]) == second * 3 // 4


def test_leaving_keeps_what_was_earned(market, token, curator, pool_id, patients, sell):
    _join(market, pool_id, curator, patients, [1, 1, 2])
    proceeds = sell()
    market.leave(pool_id, sender=patients[2])
    assert market.balance_of(patients[2]) == proceeds // 2
    assert market.contributor(pool_id, patients[2]).shares == 0
    assert market.pool(pool_id).contributors == 2
    sell()
    assert market.earned(pool_id, patients[2]) == 0
    market.withdraw(sender=patients[2])
    assert token.balanceOf(patients[2]) == proceeds // 2


def test_after_a_leave_the_rest_share_later_sales(market, curator, pool_id, patients, sell):
    _join(market, pool_id, curator, patients, [1, 1, 2])
    market.leave(pool_id, sender=patients[2])
    proceeds = sell()
    assert market.earned(pool_id, patients[0]) == proceeds // 2


def test_leave_by_a_non_contributor_reverts(market, pool_id, mallory):
    with boa.reverts("leave: not a contributor"):
        market.leave(pool_id, sender=mallory.address)


def test_leaving_twice_reverts(market, curator, pool_id, patients):
    _join(market, pool_id, curator, patients, [1, 1, 1])
    market.leave(pool_id, sender=patients[0])
    with boa.reverts("leave: not a contributor"):
        market.leave(pool_id, sender=patients[0])


def test_curator_removes_a_contributor_who_keeps_earnings(market, curator, pool_id, patients, sell):
    _join(market, pool_id, curator, patients, [1, 1, 2])
    proceeds = sell()
    market.remove_contributor(pool_id, patients[0], sender=curator.address)
    assert market.balance_of(patients[0]) == proceeds // 4
    assert market.pool(pool_id).total_shares == 3 * FULL


def test_unauthorized_pool_change_reverts(market, curator, pool_id, patients, mallory):
    _join(market, pool_id, curator, patients, [1, 1, 1])
    with boa.reverts("remove_contributor: caller is not the pool curator"):
        market.remove_contributor(pool_id, patients[0], sender=mallory.address)
    assert market.pool(pool_id).contributors == 3


def test_removing_from_an_unknown_pool_reverts(market, curator, patients):
    with boa.reverts("remove_contributor: unknown pool"):
        market.remove_contributor(7, patients[0], sender=curator.address)


def test_removing_a_non_contributor_reverts(market, curator, pool_id, mallory):
    with boa.reverts("remove_contributor: not a contributor"):
        market.remove_contributor(pool_id, mallory.address, sender=curator.address)


def test_a_contributor_may_rejoin_after_leaving(market, curator, pool_id, patients, sell):
    _join(market, pool_id, curator, patients[:2], [1, 1])
    sell()
    market.leave(pool_id, sender=patients[0])
    market.join(pool_id, patients[0], 1, FULL, sender=curator.address)
    proceeds = sell()
    assert market.earned(pool_id, patients[0]) == proceeds // 2
    assert market.pool(pool_id).contributors == 2


# --- claiming and withdrawing -----------------------------------------------------------------


def test_claim_moves_earnings_to_the_balance(market, curator, pool_id, patients, sell):
    _join(market, pool_id, curator, patients, [1, 1, 2])
    proceeds = sell()
    assert market.claim(pool_id, sender=patients[2]) == proceeds // 2
    event = _event(market, "EarningsClaimed")
    assert (event.contributor, event.amount) == (patients[2], proceeds // 2)
    assert market.earned(pool_id, patients[2]) == 0
    assert market.balance_of(patients[2]) == proceeds // 2
    assert market.contributor(pool_id, patients[2]).claimed == proceeds // 2


def test_claim_with_nothing_earned_credits_nothing(market, pool_id, patients):
    assert market.claim(pool_id, sender=patients[0]) == 0
    assert market.balance_of(patients[0]) == 0


def test_claim_and_withdraw_pays_the_contributor(market, token, curator, pool_id, patients, sell):
    _join(market, pool_id, curator, patients, [1, 1, 2])
    proceeds = sell()
    assert market.claim_and_withdraw(pool_id, sender=patients[0]) == proceeds // 4
    assert token.balanceOf(patients[0]) == proceeds // 4
    assert market.earned(pool_id, patients[0]) == 0


def test_claim_and_withdraw_twice_reverts(market, token, curator, pool_id, patients, sell):
    _join(market, pool_id, curator, patients, [1, 1, 2])
    proceeds = sell()
    market.claim_and_withdraw(pool_id, sender=patients[0])
    with boa.reverts("withdraw: nothing to withdraw"):
        market.claim_and_withdraw(pool_id, sender=patients[0])
    assert token.balanceOf(patients[0]) == proceeds // 4


def test_balances_grow_with_every_sale_and_all_can_be_withdrawn(
    market, token, curator, fees, pool_id, patients, sell
):
    _join(market, pool_id, curator, patients, [3, 1, 7])
    for _ in range(4):
        sell()
    for patient in patients:
        market.claim_and_withdraw(pool_id, sender=patient)
    market.withdraw(sender=fees)
    # Only the sub-wei fractions of each contributor stay behind.
    assert token.balanceOf(market.address) < len(patients)


# --- the exact model --------------------------------------------------------------------------

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("join"), st.integers(0, 3), st.integers(1, 50)),
        st.tuples(st.just("leave"), st.integers(0, 3), st.just(0)),
        st.tuples(st.just("buy"), st.just(0), st.just(0)),
        st.tuples(st.just("settle"), st.just(0), st.just(0)),
        st.tuples(st.just("reclaim"), st.just(0), st.just(0)),
        st.tuples(st.just("claim"), st.integers(0, 3), st.just(0)),
    ),
    max_size=14,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_OPS)
def test_every_sale_pays_exactly_the_shares_in_force_when_it_was_bought(
    market, curator, pool_id, buy, settle, ops
):
    """Random joins, leaves, sales, refunds and claims against an exact model.

    The model credits each sale to the shares recorded at its purchase (a snapshot) in
    exact fractions; every contributor's on-chain credit stays under two wei below it, and
    no share change goes through while a sale is open.
    """
    people = [boa.env.generate_address(f"model-{i}") for i in range(4)]
    with boa.env.anchor():
        shares: dict[int, int] = {}
        owed = [Fraction(0)] * len(people)
        open_sales: list[tuple[LocalAccount, int, dict[int, int]]] = []
        for op, who, records in ops:
            if op in ("join", "leave"):
                if open_sales:
                    with boa.reverts():
                        _change(market, curator, pool_id, people, op, who, records)
                    continue
                if op == "leave" and who not in shares:
                    continue
                _change(market, curator, pool_id, people, op, who, records)
                if op == "join":
                    shares[who] = records * FULL
                else:
                    del shares[who]
            elif op == "buy":
                if not shares:
                    with boa.reverts("buy: pool has no contributors"):
                        buy()
                    continue
                open_sales.append((*buy(), dict(shares)))
            elif op == "settle" and open_sales:
                buyer, purchase, snapshot = open_sales.pop(0)
                proceeds = settle(buyer, purchase)
                total = sum(snapshot.values())
                for i, share in snapshot.items():
                    owed[i] += Fraction(proceeds * share, total)
            elif op == "reclaim" and open_sales:
                # Past the delivery deadline every open sale is refunded: none may settle.
                boa.env.time_travel(seconds=WINDOW + 1)
                for _, purchase, _ in open_sales:
                    market.reclaim(purchase, sender=curator.address)
                open_sales.clear()
            elif op == "claim":
                market.claim(pool_id, sender=people[who])
        for i, person in enumerate(people):
            credited = market.earned(pool_id, person) + market.balance_of(person)
            assert 0 <= owed[i] - credited < 2, (i, owed[i], credited)


def _change(market, curator, pool_id, people, op, who, records):
    if op == "join":
        market.join(pool_id, people[who], records, FULL, sender=curator.address)
    else:
        market.remove_contributor(pool_id, people[who], sender=curator.address)
