"""The job on Flower's deployment runtime: SuperLink + SuperNodes as processes on loopback."""

from __future__ import annotations

import pytest

from ailedger.core.log import TransparencyLog, open_store
from ailedger.federated import Behaviour, ClientSpec, JobSettings
from ailedger.federated.deploy import run_deployed, settings_from_config, settings_to_config
from ailedger.federated.job import LOG_NAME
from ailedger.federated.records import job_records, latest_job_id
from ailedger.platform import Platform

JOB = JobSettings(
    (
        ClientSpec("h-a"),
        ClientSpec("h-b", label_noise=0.2),
        ClientSpec("h-c", Behaviour.FREE_RIDER),
    ),
    strategy="fedavg",
    rounds=2,
)


def test_job_settings_survive_the_run_config():
    assert settings_from_config(settings_to_config(JOB)) == JOB


@pytest.mark.slow
def test_a_job_runs_on_a_superlink_and_supernodes(settings, monkeypatch):
    for name, value in (
        ("AILEDGER_HOME", str(settings.home)),
        ("AILEDGER_PASSWORD", settings.password),
        ("AILEDGER_KEYSTORE_SCRYPT_N", str(settings.keystore_scrypt_n)),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AILEDGER_CHAIN_URL", raising=False)
    with Platform.open(settings) as platform:
        platform.deploy_core_contracts()
    run_deployed(settings, JOB, timeout=600)
    log = TransparencyLog(open_store(settings, name=LOG_NAME))
    try:
        records = job_records(log, latest_job_id(log))
        heads = log.heads()
    finally:
        log.close()
    rounds = [r for r in records if r["kind"] == "fl.round"]
    accepted = [r for r in records if r.get("status") == "accepted"]
    assert [r["round"] for r in rounds] == [1, 2]
    assert len(accepted) == 2 * 3
    assert rounds[-1]["metrics"]["accuracy"] > 0.8
    free_rider = next(a for a, name in records[0]["clients"].items() if name == "h-c")
    assert all(r["shapley"][free_rider] == 0.0 for r in rounds)
    assert heads and heads[-1].head.tree_size == len(records)
