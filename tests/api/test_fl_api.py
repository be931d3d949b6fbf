"""The /fl API over a data dir where a federated job ran."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ailedger.api import create_app
from ailedger.federated import Behaviour, ClientSpec, JobSettings
from tests.federated.conftest import run_small_job

JOB = JobSettings(
    (ClientSpec("h-a"), ClientSpec("h-b", label_noise=0.1), ClientSpec("h-c", Behaviour.POISONER)),
    strategy="median",
    rounds=2,
)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    return run_small_job(tmp_path_factory.mktemp("fl-api") / "home", JOB)


@pytest.fixture
def client(ran):
    with TestClient(create_app(ran[0])) as client:
        yield client


def test_latest_job_and_its_rounds(client, ran):
    summary = ran[1]
    assert client.get("/fl/jobs/latest").json() == {"job_id": summary.job_id}
    rounds = client.get(f"/fl/jobs/{summary.job_id}/rounds").json()
    assert [r["round"] for r in rounds] == [1, 2]
    assert rounds[0]["global_model_hash"] == "0x" + summary.rounds[0].global_model_hash.hex()


def test_records_carry_their_log_index(client, ran):
    records = client.get(f"/fl/jobs/{ran[1].job_id}/records").json()
    assert [r["index"] for r in records] == list(range(len(records)))
    assert records[0]["kind"] == "fl.job"


def test_hospitals_show_scores_rewards_and_flags(client, ran):
    rows = client.get(f"/fl/jobs/{ran[1].job_id}/hospitals").json()
    by_name = {row["hospital"]: row for row in rows}
    assert by_name["h-c"]["earned"] == "0"
    assert "no positive contribution" in by_name["h-c"]["flags"]
    assert int(by_name["h-a"]["earned"]) == ran[1].claimed["h-a"] > 0


def test_an_unknown_job_is_a_404_naming_it(client):
    response = client.get("/fl/jobs/99/rounds")
    assert response.status_code == 404
    assert "no federated job 99" in response.text
