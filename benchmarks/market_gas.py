"""Gas per sale and per withdrawal of a data pool at 10, 1,000 and 10,000 contributors.

Everything runs on one ``EmbeddedChain`` (py-evm, Prague rules), so every number
is the ``gasUsed`` of a real transaction receipt, intrinsic gas and refunds
included; titanoboa is not used here (it meters message execution only).

* DataMarket: a pool per size, its contributors recorded with ``join_many``
  (batches of 256), one pool listing. A sale is ``buy`` (escrow, from an
  allowance, with the buyer's delivery key), ``deliver`` (the content key wrapped
  to it, posted on chain) and a release: ``acknowledge_delivery`` with the buyer's
  signature (fee, revenue-per-share update), or ``settle`` by anyone once the
  dispute window (60 s here; the chain's clock moves one second per block) has
  passed without the buyer. Three sales per size: the second is reported for the
  acknowledged path and the third for the settled one, so one-time costs of the
  first sale (fresh storage slots of the fee recipient and the pool accumulator)
  are not counted. A withdrawal is one contributor's ``claim_and_withdraw`` after
  those sales.
* Baseline: the naive design, a contract that loops over every contributor on
  each sale and credits each balance (``distribute``); balances start non-zero,
  so the measurement is its cheapest, steady-state case. At 10,000
  contributors it does not fit in a 30M-gas block: the chain refuses it, which is
  recorded together with a linear extrapolation from the smaller sizes.

Goal (issue 5): per-sale gas constant within 5% across the three sizes.
Run: ``python -m benchmarks market_gas`` (writes ``benchmarks/results/market_gas.json``).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import vyper
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from ailedger import contracts
from ailedger.contracts.typed_data import DELIVERY_TYPES, data_market_domain
from ailedger.core.chain import Contract, EmbeddedChain, deploy, dev_accounts
from ailedger.core.identity import sign_typed
from ailedger.errors import AILedgerError
from ailedger.market.exchange import (
    delivery_secret,
    key_address,
    key_hash,
    public_key_of_secret,
    wrap_key_for,
)

SIZES = (10, 1_000, 10_000)
SALES = 3
BATCH = 256
PRICE = 10 * 10**18
FEE_BPS = 250
DISPUTE_WINDOW = 60  # the contract's minimum
CONTENT_KEY = keccak(b"the pool's dataset key")
GOAL_SPREAD = 0.05
RESULTS = Path(__file__).resolve().parent / "results" / "market_gas.json"

NAIVE_POOL = """
# pragma version ~=0.4.3
# The naive payout: every sale walks the contributor list and credits each one.
contributors: DynArray[address, 20000]
shares: HashMap[address, uint256]
total_shares: uint256
balances: public(HashMap[address, uint256])

@external
def join_many(who: DynArray[address, 256], records: DynArray[uint256, 256]):
    for i: uint256 in range(len(who), bound=256):
        self.contributors.append(who[i])
        self.shares[who[i]] = records[i]
        self.total_shares += records[i]
        # Start at 1 wei: every distribution then measures the steady state (rewriting a
        # non-zero balance), the cheapest case for the baseline.
        self.balances[who[i]] = 1

@external
def distribute(amount: uint256):
    total: uint256 = self.total_shares
    for c: address in self.contributors:
        self.balances[c] += amount * self.shares[c] // total
"""


def _addresses(start: int, count: int) -> list[str]:
    # Contributors that never sign need only an address: derive them, no key generation.
    return [
        to_checksum_address(keccak(f"contributor-{i}".encode())[-20:])
        for i in range(start, start + count)
    ]


def _compile_naive() -> tuple[list, bytes]:
    compiled = vyper.compile_code(NAIVE_POOL, output_formats=["abi", "bytecode"])
    return compiled["abi"], bytes.fromhex(compiled["bytecode"].removeprefix("0x"))


def _market_arm(chain: EmbeddedChain, size: int) -> dict[str, Any]:
    admin, curator, fees = dev_accounts(3)
    token_artifact = contracts.load("ALTToken")
    token = deploy(chain, token_artifact.abi, token_artifact.bytecode, sender=admin)
    artifact = contracts.load("DataMarket")
    market = deploy(
        chain,
        artifact.abi,
        artifact.bytecode,
        token.address,
        fees.address,
        FEE_BPS,
        86_400,
        DISPUTE_WINDOW,
        sender=admin,
    )
    pool_id = market.decode_logs(market.create_pool(keccak(b"pool"), sender=curator))[0].args[
        "pool_id"
    ]
    # One contributor with a key, to withdraw; the rest are addresses only.
    withdrawer = Account.from_key(keccak(b"withdrawing contributor"))
    chain.transact(admin, withdrawer.address, value=10**18)
    members = [withdrawer.address, *_addresses(0, size - 1)]
    join_gas = 0
    for start in range(0, size, BATCH):
        batch = members[start : start + BATCH]
        receipt = market.join_many(
            pool_id,
            batch,
            [1 + i % 4 for i in range(len(batch))],
            [10_000] * len(batch),
            sender=curator,
        )
        join_gas += receipt.gas_used
    listing_id = market.decode_logs(
        market.create_listing(
            keccak(b"blob"),
            key_hash(CONTENT_KEY),
            keccak(b"license"),
            PRICE,
            0,
            pool_id,
            sender=curator,
        )
    )[0].args["listing_id"]
    domain = data_market_domain(chain.chain_id, market.address)
    sales = []
    for n in range(SALES):
        buyer = Account.from_key(keccak(f"buyer-{size}-{n}".encode()))
        chain.transact(admin, buyer.address, value=10**18)
        token.mint(buyer.address, PRICE, sender=admin)
        token.approve(market.address, PRICE, sender=buyer)
        secret = delivery_secret(buyer, chain.chain_id, market.address, 0)
        delivery_key = key_address(public_key_of_secret(secret))
        buy = market.buy(listing_id, 0, PRICE, 2**40, delivery_key, sender=buyer)
        purchase_id = market.decode_logs(buy, "Purchased")[0].args["purchase_id"]
        wrapped = wrap_key_for(
            CONTENT_KEY, public_key_of_secret(secret), chain.chain_id, market.address, purchase_id
        )
        deliver = market.deliver(
            purchase_id,
            wrapped.ephemeral_x,
            wrapped.ephemeral_odd,
            wrapped.wrapped,
            keccak(b"blob"),
            key_hash(CONTENT_KEY),
            sender=curator,
        )
        if n < SALES - 1:
            delivery_hash = market.purchase(purchase_id)[-1]
            signature = sign_typed(
                buyer,
                domain,
                "Delivery",
                DELIVERY_TYPES,
                {"purchaseId": purchase_id, "deliveryHash": delivery_hash},
            )
            release = market.acknowledge_delivery(purchase_id, signature, sender=curator)
        else:
            for _ in range(DISPUTE_WINDOW + 1):  # one second per block
                chain.transact(admin, admin.address, value=0)
            release = market.settle(purchase_id, sender=curator)
        sales.append(
            {"buy": buy.gas_used, "deliver": deliver.gas_used, "release": release.gas_used}
        )
    withdraw = market.claim_and_withdraw(pool_id, sender=withdrawer)
    acknowledged, settled = sales[1], sales[2]
    return {
        "contributors": size,
        "join_gas_total": join_gas,
        "join_gas_per_contributor": round(join_gas / size),
        "sale_gas": sum(acknowledged.values()),
        "buy_gas": acknowledged["buy"],
        "deliver_gas": acknowledged["deliver"],
        "acknowledge_gas": acknowledged["release"],
        "settled_sale_gas": sum(settled.values()),
        "settle_gas": settled["release"],
        "first_sale_gas": sum(sales[0].values()),
        "withdraw_gas": withdraw.gas_used,
        "withdrawn_wei": market.decode_logs(withdraw, "Withdrawn")[0].args["amount"],
    }


def _naive_arm(chain: EmbeddedChain, size: int, abi: list, bytecode: bytes) -> dict[str, Any]:
    admin = dev_accounts(1)[0]
    naive: Contract = deploy(chain, abi, bytecode, sender=admin)
    members = _addresses(10**6, size)
    for start in range(0, size, BATCH):
        batch = members[start : start + BATCH]
        naive.join_many(batch, [1 + i % 4 for i in range(len(batch))], sender=admin)
    try:
        gas = naive.distribute(PRICE, sender=admin).gas_used
    except AILedgerError as error:  # out of gas: the block cannot hold it
        return {"contributors": size, "sale_gas": None, "refused": str(error)[:200]}
    return {"contributors": size, "sale_gas": gas}


def run(sizes: tuple[int, ...] = SIZES) -> dict:
    """Measure both arms at every size on one embedded chain; return the table."""
    abi, bytecode = _compile_naive()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ailedger-bench-") as tmp:
        chain = EmbeddedChain(Path(tmp) / "chain")
        try:
            market = [_market_arm(chain, size) for size in sizes]
            naive = [_naive_arm(chain, size, abi, bytecode) for size in sizes]
        finally:
            chain.close()
    spread = max(
        (max(column) - min(column)) / min(column)
        for column in (
            [row["sale_gas"] for row in market],
            [row["settled_sale_gas"] for row in market],
        )
    )
    measured = [row for row in naive if row["sale_gas"] is not None]
    if len(measured) >= 2:
        # Gas of the loop is linear in the contributors: extrapolate where the chain refused.
        (x0, y0), (x1, y1) = [(r["contributors"], r["sale_gas"]) for r in measured[-2:]]
        slope = (y1 - y0) / (x1 - x0)
        for row in naive:
            if row["sale_gas"] is None:
                row["extrapolated_sale_gas"] = round(y1 + slope * (row["contributors"] - x1))
    return {
        "engine": "EmbeddedChain (py-evm, Prague), gasUsed of real transaction receipts",
        "sizes": list(sizes),
        "market": market,
        "naive_loop_baseline": naive,
        "sale_gas_spread": round(spread, 5),
        "goal_spread": GOAL_SPREAD,
        "goal_met": spread <= GOAL_SPREAD,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    result = run()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
