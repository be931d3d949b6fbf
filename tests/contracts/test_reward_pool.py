"""RewardPool: a job's budget locked, one root per round, claims with proofs, every revert."""

from __future__ import annotations

import json

import boa
import pytest
from eth_abi import encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger import contracts
from ailedger.federated.rewards import RewardTree, RoundRewards, allocate

ALT = 10**18
BUDGET = 90 * ALT


def _reverts(reason: str):
    return boa.reverts(f"RewardPool: {reason}")


@pytest.fixture
def token(deploy):
    return deploy("ALTToken")


@pytest.fixture
def pool(token, deployer):
    artifact = contracts.load("RewardPool")
    code = artifact.bytecode + encode(["address"], [token.address])
    address, _ = boa.env.deploy_code(bytecode=code, sender=deployer)
    return boa.loads_abi(json.dumps(artifact.abi), name="RewardPool").at(address)


@pytest.fixture
def server() -> str:
    return boa.env.generate_address("server")


@pytest.fixture
def clients() -> list[str]:
    return [boa.env.generate_address(f"hospital-{i}") for i in range(5)]


@pytest.fixture
def job_id(pool, token, deployer, server) -> int:
    token.mint(deployer, BUDGET, sender=deployer)
    token.approve(pool.address, BUDGET, sender=deployer)
    return pool.create_job(server, BUDGET, sender=deployer)


def _tree(job_id: int, round_number: int, clients: list[str], budget: int) -> RewardTree:
    rewards = allocate(round_number, budget, {c: float(i + 1) for i, c in enumerate(clients)})
    return RewardTree(job_id, rewards)


def _post(pool, server, tree: RewardTree) -> None:
    pool.post_round(
        tree.job_id, tree.rewards.round_number, tree.root, tree.rewards.total, sender=server
    )


def _claim(pool, tree: RewardTree, client: str, *, as_: str | None = None) -> None:
    amount = tree.rewards.amounts[client]
    pool.claim(
        tree.job_id, tree.rewards.round_number, amount, tree.proof(client), sender=as_ or client
    )


def test_create_job_locks_the_budget(pool, token, job_id, server, deployer):
    assert token.balanceOf(pool.address) == BUDGET
    funder, job_server, budget, posted, closed = pool.jobs(job_id)
    assert (funder, job_server, budget, posted, closed) == (deployer, server, BUDGET, 0, False)


def test_every_client_claims_its_amount_with_its_proof(pool, token, job_id, server, clients):
    tree = _tree(job_id, 1, clients, 30 * ALT)
    _post(pool, server, tree)
    for client in clients:
        _claim(pool, tree, client)
        assert token.balanceOf(client) == tree.rewards.amounts[client]
    assert pool.round_claimed(job_id, 1) == tree.rewards.total


def test_double_claim_reverts(pool, job_id, server, clients):
    tree = _tree(job_id, 1, clients, 30 * ALT)
    _post(pool, server, tree)
    _claim(pool, tree, clients[0])
    with _reverts("already claimed"):
        _claim(pool, tree, clients[0])


def test_claim_for_another_client_reverts(pool, job_id, server, clients):
    tree = _tree(job_id, 1, clients, 30 * ALT)
    _post(pool, server, tree)
    with _reverts("invalid proof"):
        _claim(pool, tree, clients[0], as_=clients[1])


def test_claim_of_an_unposted_round_reverts(pool, job_id, clients):
    tree = _tree(job_id, 2, clients, 30 * ALT)
    with _reverts("round not posted"):
        _claim(pool, tree, clients[0])


def test_claims_above_the_round_total_revert(pool, job_id, server, clients):
    # A server posting a total smaller than its leaves sum to cannot overdraw the pool.
    tree = _tree(job_id, 1, clients, 30 * ALT)
    pool.post_round(job_id, 1, tree.root, tree.rewards.amounts[clients[-1]], sender=server)
    _claim(pool, tree, clients[-1])
    with _reverts("above round budget"):
        _claim(pool, tree, clients[0])


def test_posting_above_the_job_budget_reverts(pool, job_id, server, clients):
    tree = _tree(job_id, 1, clients, 30 * ALT)
    with _reverts("above job budget"):
        pool.post_round(job_id, 1, tree.root, BUDGET + 1, sender=server)


def test_only_the_jobs_server_posts(pool, job_id, clients):
    tree = _tree(job_id, 1, clients, 30 * ALT)
    with _reverts("not the job's server"):
        _post(pool, clients[0], tree)


def test_a_round_is_posted_once(pool, job_id, server, clients):
    tree = _tree(job_id, 1, clients, 30 * ALT)
    _post(pool, server, tree)
    with _reverts("round already posted"):
        _post(pool, server, tree)


def test_empty_root_and_unknown_job_revert(pool, job_id, server):
    with _reverts("empty root"):
        pool.post_round(job_id, 1, b"\0" * 32, 0, sender=server)
    with _reverts("unknown job"):
        pool.post_round(job_id + 1, 1, b"\1" * 32, 0, sender=server)


def test_create_job_rejects_zero_server_and_zero_budget(pool, deployer, server):
    with _reverts("zero server"):
        pool.create_job("0x" + "00" * 20, ALT, sender=deployer)
    with _reverts("zero budget"):
        pool.create_job(server, 0, sender=deployer)


def test_close_job_refunds_what_was_never_posted(pool, token, job_id, server, deployer, clients):
    tree = _tree(job_id, 1, clients, 30 * ALT)
    _post(pool, server, tree)
    assert pool.close_job(job_id, sender=deployer) == BUDGET - tree.rewards.total
    assert token.balanceOf(deployer) == BUDGET - tree.rewards.total
    _claim(pool, tree, clients[0])  # posted rounds stay claimable
    with _reverts("job closed"):
        _post(pool, server, _tree(job_id, 2, clients, ALT))
    with _reverts("job closed"):
        pool.close_job(job_id, sender=deployer)


def test_only_the_funder_closes(pool, job_id, server):
    with _reverts("not the job's funder"):
        pool.close_job(job_id, sender=server)


def test_posting_gas_does_not_grow_with_clients(pool, token, deployer, server):
    gas = []
    for n in (8, 1_000):
        token.mint(deployer, ALT, sender=deployer)
        token.approve(pool.address, ALT, sender=deployer)
        job = pool.create_job(server, ALT, sender=deployer)
        tree = _tree(job, 1, [f"0x{i + 1:040x}" for i in range(n)], ALT)
        _post(pool, server, tree)
        gas.append(pool._computation.get_gas_used())
    assert abs(gas[1] - gas[0]) <= 0.05 * gas[0]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    budget=st.integers(min_value=0, max_value=10**24),
    scores=st.lists(
        st.floats(min_value=-1, max_value=1e6, allow_nan=False), min_size=1, max_size=40
    ),
)
def test_allocation_never_exceeds_and_never_loses_the_budget(budget, scores):
    clients = [f"0x{i + 1:040x}" for i in range(len(scores))]
    rewards = allocate(3, budget, dict(zip(clients, scores, strict=True)))
    assert rewards.total + rewards.carried == budget
    assert rewards.carried >= 0
    assert all(amount > 0 for amount in rewards.amounts.values())


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(amounts=st.lists(st.integers(min_value=1, max_value=10**20), min_size=1, max_size=17))
def test_every_leaf_of_any_tree_is_claimable(pool, token, deployer, server, amounts):
    with boa.env.anchor():
        total = sum(amounts)
        token.mint(deployer, total, sender=deployer)
        token.approve(pool.address, total, sender=deployer)
        job = pool.create_job(server, total, sender=deployer)
        clients = [boa.env.generate_address(f"c{i}") for i in range(len(amounts))]
        rewards = RoundRewards(1, total, dict(zip(clients, amounts, strict=True)), 0)
        tree = RewardTree(job, rewards)
        _post(pool, server, tree)
        for client in clients:
            _claim(pool, tree, client)
        assert pool.round_claimed(job, 1) == total
