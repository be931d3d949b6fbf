"""Reading jobs back from the fl log."""

from __future__ import annotations

import pytest

from ailedger.core.identity import canonical_json
from ailedger.core.log import SqliteStore, TransparencyLog
from ailedger.errors import NotFoundError
from ailedger.federated.records import finished_jobs, job_records, latest_job_id, reward_tree
from ailedger.federated.rewards import RewardTree, RoundRewards

CLIENT = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"


@pytest.fixture
def log(tmp_path):
    log = TransparencyLog(SqliteStore(tmp_path / "fl.sqlite3"))
    yield log
    log.close()


def _round(job_id: int, number: int, rewards: dict[str, str]) -> bytes:
    return canonical_json(
        {"kind": "fl.round", "job_id": job_id, "round": number, "rewards": rewards, "carried": "1"}
    )


def test_a_job_counts_as_finished_only_with_its_last_round(log):
    log.append(canonical_json({"kind": "fl.job", "job_id": 1, "rounds": 2}))
    log.append(_round(1, 1, {}))
    assert finished_jobs(log) == 0  # what `fl run --deploy` checks: flwr run exits 0 anyway
    log.append(_round(1, 2, {}))
    assert finished_jobs(log) == 1
    assert latest_job_id(log) == 1
    assert [r["index"] for r in job_records(log, 1)] == [0, 1, 2]


def test_the_reward_tree_is_rebuilt_from_the_round_record(log):
    log.append(canonical_json({"kind": "fl.job", "job_id": 3, "rounds": 1}))
    log.append(_round(3, 1, {CLIENT: "500"}))
    tree = reward_tree(job_records(log, 3), 1)
    expected = RewardTree(3, RoundRewards(1, 0, {CLIENT: 500}, 1))
    assert tree.root == expected.root


def test_missing_jobs_and_unpaid_rounds_are_not_found(log):
    with pytest.raises(NotFoundError):
        latest_job_id(log)
    log.append(canonical_json({"kind": "fl.job", "job_id": 1, "rounds": 1}))
    log.append(_round(1, 1, {}))
    with pytest.raises(NotFoundError, match="no federated job 2"):
        job_records(log, 2)
    with pytest.raises(NotFoundError, match="round 1 paid no rewards"):
        reward_tree(job_records(log, 1), 1)
