"""Reading jobs back from the ``fl`` log: the log is the record of what happened.

The operator's CLI, API and dashboard read rounds, scores and rewards from here,
and a hospital rebuilds its reward proof from the round record (the amounts of
every client are in it, so the Merkle tree is recomputed, never trusted).
"""

from __future__ import annotations

import json
from typing import Any

from ailedger.core.log import TransparencyLog
from ailedger.errors import NotFoundError
from ailedger.federated.rewards import RewardTree, RoundRewards

__all__ = ["finished_jobs", "job_records", "latest_job_id", "reward_tree"]


def _records(log: TransparencyLog) -> list[dict[str, Any]]:
    return [json.loads(log.record(index)) for index in range(log.size)]


def finished_jobs(log: TransparencyLog) -> int:
    """How many jobs recorded their last round (a job record names its number of rounds)."""
    records = _records(log)
    rounds = {r["job_id"]: r["rounds"] for r in records if r.get("kind") == "fl.job"}
    return sum(
        1 for r in records if r.get("kind") == "fl.round" and rounds.get(r["job_id"]) == r["round"]
    )


def latest_job_id(log: TransparencyLog) -> int:
    """The id of the last job recorded (``NotFoundError`` when the log has none)."""
    jobs = [r["job_id"] for r in _records(log) if r.get("kind") == "fl.job"]
    if not jobs:
        raise NotFoundError("no federated job on the fl log: run `ailedger fl run`", field="job")
    return int(jobs[-1])


def job_records(log: TransparencyLog, job_id: int) -> list[dict[str, Any]]:
    """Every record of job ``job_id``, in log order, each with its ``index`` in the log."""
    found = [
        {**record, "index": index}
        for index, record in enumerate(_records(log))
        if record.get("job_id") == job_id
    ]
    if not found:
        raise NotFoundError(f"no federated job {job_id} on the fl log", field="job")
    return found


def reward_tree(records: list[dict[str, Any]], round_number: int) -> RewardTree:
    """The reward tree of one round, rebuilt from its round record's amounts."""
    for record in records:
        if record.get("kind") == "fl.round" and record["round"] == round_number:
            amounts = {client: int(amount) for client, amount in record["rewards"].items()}
            if not amounts:
                break
            rewards = RoundRewards(round_number, 0, amounts, int(record["carried"]))
            return RewardTree(int(record["job_id"]), rewards)
    raise NotFoundError(f"round {round_number} paid no rewards", field="round")
