"""The federated dashboard page over a data dir where a job ran, and before any job."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ailedger.api import create_app
from ailedger.federated import Behaviour, ClientSpec, JobSettings
from ailedger.platform import Platform
from tests.federated.conftest import run_small_job

JOB = JobSettings(
    (ClientSpec("h-a"), ClientSpec("h-b"), ClientSpec("h-c", Behaviour.FREE_RIDER)),
    strategy="fedavg",
    rounds=2,
)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    return run_small_job(tmp_path_factory.mktemp("fl-web") / "home", JOB)


def test_the_page_shows_rounds_hospitals_and_flags(ran):
    settings, summary = ran
    with TestClient(create_app(settings)) as client:
        page = client.get("/ui/fl").text
    assert f'id="job-id">{summary.job_id}<' in page
    assert "Test accuracy per round (fedavg)" in page
    assert 'data-hospital="h-c"' in page and "no positive contribution" in page
    assert page.count("<tr>") >= 1 + len(summary.rounds)


def test_without_a_job_the_page_says_how_to_make_one(settings):
    with Platform.open(settings) as platform:
        platform.deploy_core_contracts()
    with TestClient(create_app(settings)) as client:
        page = client.get("/ui/fl").text
    assert 'id="no-jobs"' in page
