"""A whole job on the embedded chain: rounds on Flower, the fl log, rewards claimed on chain."""

from __future__ import annotations

import pytest
from eth_account import Account
from flwr.app import Message
from flwr.clientapp import ClientApp

from ailedger.core.log import TransparencyLog, open_store, verify_log
from ailedger.federated import Behaviour, ClientSpec, JobSettings, run_job
from ailedger.federated.apps import Hospital, client_app, local_update, signed_reply
from ailedger.federated.encoding import from_record, to_record
from ailedger.federated.job import ALT, LOG_NAME
from ailedger.federated.records import job_records
from ailedger.federated.rewards import deploy_reward_pool
from ailedger.platform import Platform

CLIENTS = (
    ClientSpec("hospital-a"),
    ClientSpec("hospital-b", label_noise=0.2),
    ClientSpec("hospital-c", Behaviour.FREE_RIDER),
    ClientSpec("hospital-d", Behaviour.POISONER),
)


def _tamperer(hospital: Hospital, model) -> ClientApp:
    """Signs its honest update, then sends other arrays."""
    app = ClientApp()

    @app.train()
    def train(message: Message, context) -> Message:
        arrays = local_update(hospital, model, from_record(message.content["arrays"]))
        reply = signed_reply(message, hospital, arrays)
        reply.content["arrays"] = to_record([a * 2 for a in arrays])
        return reply

    return app


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    from ailedger.config import Settings

    settings = Settings(
        home=tmp_path_factory.mktemp("fl") / "home", keystore_scrypt_n=2**4, password="pw"
    )

    def clients(hospitals, model):
        apps = [client_app(h, model) for h in hospitals]
        stranger = Hospital("stranger", Account.from_key(b"\x42" * 32), hospitals[0].data)
        return [*apps, client_app(stranger, model), _tamperer(hospitals[1], model)]

    with Platform.open(settings) as platform:
        summary = run_job(
            platform,
            JobSettings(CLIENTS, strategy="median", rounds=2, budget=100 * ALT),
            clients=clients,
        )
        pool = deploy_reward_pool(platform)
        posted_roots = [pool.round_root(summary.job_id, r.round_number) for r in summary.rounds]
        balances = {
            name: pool.token.balanceOf(address) for name, address in summary.hospitals.items()
        }
        log = TransparencyLog(open_store(settings, name=LOG_NAME))
        records = job_records(log, summary.job_id)
        report = verify_log(log.store, platform.log_reader(LOG_NAME))
        log.close()
    assert posted_roots == [r.reward_root for r in summary.rounds]
    return summary, balances, records, report


def test_each_round_records_every_reply_and_the_global_model(job):
    summary, _, records, _ = job
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "fl.job"
    assert kinds.count("fl.round") == 2
    assert kinds.count("fl.participation") == 2 * 6
    round_one = next(r for r in records if r["kind"] == "fl.round" and r["round"] == 1)
    assert round_one["global_model_hash"] == "0x" + summary.rounds[0].global_model_hash.hex()


def test_bad_replies_are_rejected_with_reasons_and_the_round_goes_on(job):
    summary, _, records, _ = job
    rejected = [r for r in records if r.get("status") == "rejected"]
    reasons = [r["reason"].split(":")[0] for r in rejected]
    assert reasons.count("unregistered client") == 2
    # The tamperer shares hospital-b's key: whichever of the two replies the server reads
    # second is rejected (a mismatch if it is the tampered one, else a duplicate).
    assert len(reasons) == 4
    assert set(reasons) <= {
        "unregistered client",
        "commitment mismatch",
        "duplicate update in this round",
    }
    for summary_round in summary.rounds:
        assert len(summary_round.accepted) == 4


def test_free_rider_and_poisoner_earn_nothing_and_the_others_claimed_on_chain(job):
    summary, balances, _, _ = job
    assert summary.claimed["hospital-c"] == 0 and summary.claimed["hospital-d"] == 0
    assert summary.total_scores()["hospital-c"] == 0.0
    assert summary.total_scores()["hospital-d"] < 0
    assert summary.claimed["hospital-a"] > 0 and summary.claimed["hospital-b"] > 0
    assert balances == summary.claimed
    posted = sum(sum(r.rewards.values()) for r in summary.rounds)
    assert posted + summary.rounds[-1].carried == 100 * ALT


def test_the_fl_log_is_anchored_and_verifies(job):
    summary, _, records, report = job
    assert summary.anchored
    assert report.records == report.anchored_size == len(records) == summary.log_size
