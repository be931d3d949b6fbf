"""A client's signed commitment to its update: EIP-712, checked before aggregation.

The client signs, with its registered key, under the domain ("AILedger
Federated", "1", chainId, the job's RewardPool)::

    UpdateCommitment(uint256 jobId,bytes32 modelId,uint64 round,bytes32 updateHash,
                     uint64 numExamples)

``updateHash`` is :func:`ailedger.federated.encoding.parameters_hash` of the
arrays it sends. The commitment travels in the reply's ``commitment``
ConfigRecord next to the arrays; the server recomputes the hash from the arrays
it received, so a swapped or altered update no longer matches. Signatures are
in the low-s canonical form ``core/identity`` accepts, like every other one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from flwr.app import ConfigRecord

from ailedger.core.chain import to_checksum
from ailedger.core.identity import Domain, TypeFields, recover_typed, sign_typed
from ailedger.errors import InvalidInputError

__all__ = [
    "COMMITMENT_KEY",
    "COMMITMENT_TYPES",
    "DOMAIN_NAME",
    "UpdateCommitment",
    "federated_domain",
]

DOMAIN_NAME = "AILedger Federated"
COMMITMENT_KEY = "commitment"
COMMITMENT_TYPES: TypeFields = {
    "UpdateCommitment": [
        {"name": "jobId", "type": "uint256"},
        {"name": "modelId", "type": "bytes32"},
        {"name": "round", "type": "uint64"},
        {"name": "updateHash", "type": "bytes32"},
        {"name": "numExamples", "type": "uint64"},
    ]
}


def federated_domain(chain_id: int, reward_pool: str) -> Domain:
    """The domain of update commitments for jobs of the RewardPool at ``reward_pool``."""
    return Domain(DOMAIN_NAME, "1", chain_id, reward_pool)


@dataclass(frozen=True)
class UpdateCommitment:
    """What a client commits to for one round, and its signature."""

    client: str
    job_id: int
    model_id: bytes
    round_number: int
    update_hash: bytes
    num_examples: int
    signature: bytes = b""

    def message(self) -> dict[str, Any]:
        """The EIP-712 message."""
        return {
            "jobId": self.job_id,
            "modelId": self.model_id,
            "round": self.round_number,
            "updateHash": self.update_hash,
            "numExamples": self.num_examples,
        }

    def signed(self, account: LocalAccount, domain: Domain) -> UpdateCommitment:
        """This commitment signed by ``account`` (which it names as the client)."""
        signature = sign_typed(
            account, domain, "UpdateCommitment", COMMITMENT_TYPES, self.message()
        )
        return UpdateCommitment(
            to_checksum(account.address),
            self.job_id,
            self.model_id,
            self.round_number,
            self.update_hash,
            self.num_examples,
            signature,
        )

    def signer(self, domain: Domain) -> str:
        """The address whose key made the signature (``InvalidInputError`` if malformed)."""
        return recover_typed(
            domain, "UpdateCommitment", COMMITMENT_TYPES, self.message(), self.signature
        )

    def to_record(self) -> ConfigRecord:
        """The ConfigRecord a reply carries."""
        return ConfigRecord(
            {
                "client": self.client,
                "job-id": self.job_id,
                "model-id": self.model_id,
                "round": self.round_number,
                "update-hash": self.update_hash,
                "num-examples": self.num_examples,
                "signature": self.signature,
            }
        )

    @classmethod
    def from_record(cls, record: ConfigRecord) -> UpdateCommitment:
        """Parse a reply's ConfigRecord; ``InvalidInputError`` names a missing or bad field."""
        fields: dict[str, Any] = {}
        for key, kind in (
            ("client", str),
            ("job-id", int),
            ("model-id", bytes),
            ("round", int),
            ("update-hash", bytes),
            ("num-examples", int),
            ("signature", bytes),
        ):
            value = record.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise InvalidInputError(
                    f"commitment.{key}: expected {kind.__name__}, got {type(value).__name__}",
                    field=f"commitment.{key}",
                )
            fields[key] = value
        for key in ("model-id", "update-hash"):
            if len(fields[key]) != 32:
                raise InvalidInputError(
                    f"commitment.{key}: expected 32 bytes, got {len(fields[key])}",
                    field=f"commitment.{key}",
                )
        return cls(
            to_checksum(fields["client"]),
            fields["job-id"],
            fields["model-id"],
            fields["round"],
            fields["update-hash"],
            fields["num-examples"],
            fields["signature"],
        )
