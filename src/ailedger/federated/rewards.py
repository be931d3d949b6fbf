"""Rewards: scores to ALT amounts, one Merkle root per round, claims on ``RewardPool``.

Each round's budget (the job's budget split evenly over its rounds, plus what
earlier rounds left) is divided in proportion to the clients' positive scores,
rounding down in integer wei; the rounding remainder, and a whole round's budget
when nobody scored above zero, is carried to the next round, never lost. What
the last round leaves stays in the pool for the funder (``close_job``).

The tree is OpenZeppelin's shape as snekmate verifies it: leaves are
``keccak256(keccak256(abi_encode(job_id, round, client, amount)))`` and each
inner node hashes its two children in sorted order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ailedger import contracts
from ailedger.core.chain import Contract, Receipt, ensure_deployed, to_checksum
from ailedger.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from ailedger.platform import Platform

__all__ = [
    "CONTRACT_NAME",
    "RewardPool",
    "RewardTree",
    "RoundRewards",
    "allocate",
    "deploy_reward_pool",
    "reward_leaf",
]

CONTRACT_NAME = "RewardPool"


def reward_leaf(job_id: int, round_number: int, client: str, amount: int) -> bytes:
    """The leaf ``RewardPool.claim`` recomputes for ``client`` claiming ``amount``."""
    encoded = encode(
        ["uint256", "uint256", "address", "uint256"],
        [job_id, round_number, to_checksum(client), amount],
    )
    return keccak(keccak(encoded))


def _hash_pair(left: bytes, right: bytes) -> bytes:
    return keccak(min(left, right) + max(left, right))


@dataclass(frozen=True)
class RoundRewards:
    """What one round pays: each client's amount, the total posted and the remainder carried."""

    round_number: int
    budget: int
    amounts: dict[str, int]
    carried: int

    @property
    def total(self) -> int:
        """The sum of the amounts: what the round's root is posted with."""
        return sum(self.amounts.values())


def allocate(round_number: int, budget: int, scores: Mapping[str, float]) -> RoundRewards:
    """Split ``budget`` in proportion to the positive ``scores``; the remainder is carried.

    Negative and zero scores earn nothing. Amounts are exact integer shares of the
    budget (fractions, not floats, so the sum never exceeds it).
    """
    if budget < 0:
        raise InvalidInputError(f"budget: expected >= 0, got {budget}", field="budget")
    weights = {
        to_checksum(client): Fraction(score) for client, score in scores.items() if score > 0
    }
    total_weight = sum(weights.values(), Fraction(0))
    if total_weight == 0:
        return RoundRewards(round_number, budget, {}, budget)
    amounts = {
        client: int(budget * weight / total_weight)
        for client, weight in weights.items()
        if int(budget * weight / total_weight) > 0
    }
    return RoundRewards(round_number, budget, amounts, budget - sum(amounts.values()))


class RewardTree:
    """The Merkle tree of one round's (client, amount) leaves, with proofs."""

    def __init__(self, job_id: int, rewards: RoundRewards) -> None:
        if not rewards.amounts:
            raise InvalidInputError(
                f"round {rewards.round_number}: no client earned a reward", field="amounts"
            )
        self.job_id = job_id
        self.rewards = rewards
        self._leaf_of = {
            client: reward_leaf(job_id, rewards.round_number, client, amount)
            for client, amount in rewards.amounts.items()
        }
        self._levels: list[list[bytes]] = [sorted(self._leaf_of.values())]
        while len(self._levels[-1]) > 1:
            below = self._levels[-1]
            above = [_hash_pair(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            if len(below) % 2:
                above.append(below[-1])  # an odd node moves up unchanged
            self._levels.append(above)

    @property
    def root(self) -> bytes:
        """The root ``post_round`` publishes."""
        return self._levels[-1][0]

    def proof(self, client: str) -> list[bytes]:
        """The sibling hashes from ``client``'s leaf to the root."""
        leaf = self._leaf_of.get(to_checksum(client))
        if leaf is None:
            raise NotFoundError(
                f"client {client} has no reward in round {self.rewards.round_number}",
                field="client",
            )
        position = self._levels[0].index(leaf)
        proof = []
        for level in self._levels[:-1]:
            sibling = position ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            position //= 2
        return proof


class RewardPool:
    """The typed face of ``RewardPool.vy``: jobs, posted rounds, claims."""

    def __init__(self, contract: Contract, token: Contract) -> None:
        self.contract = contract
        self.token = token

    @property
    def address(self) -> str:
        """The pool's address."""
        return self.contract.address

    def create_job(self, funder: LocalAccount, server: str, budget: int) -> int:
        """Approve and lock ``budget`` ALT from ``funder`` for a job posted by ``server``."""
        self.token.approve(self.address, budget, sender=funder)
        receipt = self.contract.create_job(to_checksum(server), budget, sender=funder)
        (event,) = self.contract.decode_logs(receipt, "JobCreated")
        return int(event.args["job_id"])

    def post_round(self, server: LocalAccount, tree: RewardTree) -> Receipt:
        """Post ``tree``'s root and total for its round (one transaction, constant gas)."""
        rewards = tree.rewards
        return self.contract.post_round(
            tree.job_id, rewards.round_number, tree.root, rewards.total, sender=server
        )

    def claim(self, client: LocalAccount, tree: RewardTree) -> Receipt:
        """``client`` claims its amount of ``tree``'s round with its proof."""
        amount = tree.rewards.amounts.get(to_checksum(client.address))
        if amount is None:
            raise NotFoundError(
                f"client {client.address} has no reward in round {tree.rewards.round_number}",
                field="client",
            )
        return self.contract.claim(
            tree.job_id,
            tree.rewards.round_number,
            amount,
            tree.proof(client.address),
            sender=client,
        )

    def has_claimed(self, job_id: int, round_number: int, client: str) -> bool:
        """Whether ``client`` already claimed round ``round_number`` of job ``job_id``."""
        return bool(self.contract.has_claimed(job_id, round_number, to_checksum(client)))

    def round_root(self, job_id: int, round_number: int) -> bytes:
        """The posted root of a round (32 zero bytes when not posted)."""
        return bytes(self.contract.round_root(job_id, round_number))


def deploy_reward_pool(platform: Platform) -> RewardPool:
    """Deploy ``RewardPool`` for the platform's ALT token, or reuse the deployed one."""
    platform.deploy_core_contracts()
    token = platform.contract("ALTToken")
    artifact = contracts.load(CONTRACT_NAME)
    # The pool is bound to one token: a redeployed token must give a new pool.
    contract, _ = ensure_deployed(
        platform.chain,
        platform.book,
        CONTRACT_NAME,
        artifact.abi,
        artifact.bytecode,
        f"{artifact.source_hash}:{token.address}",
        (token.address,),
        platform.operator,
    )
    return RewardPool(contract, token)
