"""`ailedger market ...` on a data dir where the patient-pool scenario ran."""

from __future__ import annotations

import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from ailedger.cli import market as market_cli
from ailedger.cli.market import app
from ailedger.errors import InvalidInputError, NotFoundError, RevertError
from ailedger.market.scenario import run_patient_market
from ailedger.platform import Platform

runner = CliRunner()


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    from ailedger.config import Settings

    home = tmp_path_factory.mktemp("cli") / "home"
    settings = Settings(home=home, keystore_scrypt_n=2**4, password="pw")
    with Platform.open(settings) as platform:
        summary = run_patient_market(platform, n_patients=36)
    return home, summary


@pytest.fixture
def summary(ran, monkeypatch):
    home, summary = ran
    monkeypatch.setenv("AILEDGER_HOME", str(home))
    monkeypatch.setenv("AILEDGER_PASSWORD", "pw")
    monkeypatch.setenv("AILEDGER_KEYSTORE_SCRYPT_N", "16")
    monkeypatch.delenv("AILEDGER_CHAIN_URL", raising=False)
    # Wide enough that tables do not wrap the words the tests look for.
    monkeypatch.setattr(market_cli, "console", Console(width=300, soft_wrap=True))
    return summary


def test_listings_shows_the_pool_listing_and_its_gate_verdict(summary):
    result = runner.invoke(app, ["listings"])
    assert result.exit_code == 0, result.output
    assert "Breast biopsy pool" in result.output
    assert "passed" in result.output


def test_pools_shows_the_contributor_count(summary):
    result = runner.invoke(app, ["pools"])
    assert result.exit_code == 0, result.output
    assert f"{summary.patients}" in result.output


def test_earnings_lists_every_contributor(summary):
    result = runner.invoke(app, ["earnings", str(summary.pool_id)])
    assert result.exit_code == 0, result.output
    assert all(e.address in result.output for e in summary.earnings)


def test_purchases_lists_both_sales(summary):
    result = runner.invoke(app, ["purchases"])
    assert "access" in result.output and "compute" in result.output


def test_delist_then_relist(summary):
    assert "delisted" in runner.invoke(app, ["delist", str(summary.listing_id)]).output
    assert "is active" in runner.invoke(app, ["relist", str(summary.listing_id)]).output


def test_delisting_twice_reverts_with_the_reason(summary):
    runner.invoke(app, ["delist", str(summary.listing_id)])
    result = runner.invoke(app, ["delist", str(summary.listing_id)])
    assert isinstance(result.exception, RevertError)
    assert result.exception.reason == "set_active: no change"
    runner.invoke(app, ["relist", str(summary.listing_id)])


def test_compute_runs_a_paid_job_and_prints_its_model(summary):
    args = [
        "compute",
        str(summary.listing_id),
        "--buyer",
        "lab-a",
        "--estimator",
        "decision_tree",
        "--target",
        "diagnosis",
        "--param",
        "max_depth=3",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "model " in result.output and "accuracy" in result.output


def test_compute_outside_the_allow_list_is_refused(summary):
    args = [
        "compute",
        str(summary.listing_id),
        "--buyer",
        "lab-a",
        "--estimator",
        "knn",
        "--target",
        "diagnosis",
    ]
    result = runner.invoke(app, args)
    assert isinstance(result.exception, InvalidInputError)
    assert result.exception.field == "estimator"


def test_compute_on_a_target_that_cannot_train_is_refused_before_paying(summary):
    before = runner.invoke(app, ["purchases"]).output
    args = [
        "compute",
        str(summary.listing_id),
        "--buyer",
        "lab-a",
        "--estimator",
        "decision_tree",
        "--target",
        "zip",
    ]
    result = runner.invoke(app, args)
    assert isinstance(result.exception, InvalidInputError)
    assert result.exception.field == "target"
    assert runner.invoke(app, ["purchases"]).output == before


def test_a_malformed_param_is_refused(summary):
    args = [
        "compute",
        str(summary.listing_id),
        "--buyer",
        "lab-a",
        "--estimator",
        "decision_tree",
        "--target",
        "diagnosis",
        "--param",
        "max_depth",
    ]
    assert isinstance(runner.invoke(app, args).exception, InvalidInputError)


def test_withdraw_with_nothing_credited_reverts(summary):
    result = runner.invoke(app, ["withdraw", "--account", "lab-a"])
    assert isinstance(result.exception, RevertError)
    assert result.exception.reason == "withdraw: nothing to withdraw"


def test_withdraw_of_an_unknown_account_is_not_found(summary):
    result = runner.invoke(app, ["withdraw", "--account", "nobody"])
    assert isinstance(result.exception, NotFoundError)


def test_the_seller_withdraws_what_nobody_else_may(summary):
    # The operator collected the platform fee of both sales.
    result = runner.invoke(app, ["withdraw", "--account", "operator"])
    assert result.exit_code == 0, result.output
    assert "withdrew" in result.output


POLICY = {
    "direct_identifiers": ["name"],
    "quasi_identifiers": {"age": {"bands": [10]}},
    "sensitive": "diagnosis",
}


def test_check_passes_a_k_anonymous_csv(summary, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text(
        "name,age,diagnosis\n" + "".join(f"p{i},4{i % 9},{'ab'[i % 2]}\n" for i in range(12))
    )
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps(POLICY))
    result = runner.invoke(app, ["check", str(data), "--policy", str(policy)])
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output


def test_check_refuses_a_failing_csv_naming_the_group(summary, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("name,age,diagnosis\na,41,x\nb,95,y\n")
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps(POLICY))
    result = runner.invoke(app, ["check", str(data), "--policy", str(policy)])
    assert result.exit_code == 1
    assert "REFUSED" in result.output
    assert "age=90-99" in result.output


def test_check_with_a_non_json_policy_is_an_input_error(summary, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    policy = tmp_path / "p.json"
    policy.write_text("nope")
    result = runner.invoke(app, ["check", str(data), "--policy", str(policy)])
    assert isinstance(result.exception, InvalidInputError)


def test_check_of_an_empty_csv_is_an_input_error_naming_the_file(summary, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("")
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps(POLICY))
    result = runner.invoke(app, ["check", str(data), "--policy", str(policy)])
    assert isinstance(result.exception, InvalidInputError)
    assert result.exception.field == "csv_file"


def test_check_keeps_the_leading_zeros_of_prefix_codes(summary, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("zip,diagnosis\n" + "".join(f"0213{i % 2},{'ab'[i % 2]}\n" for i in range(6)))
    policy = tmp_path / "p.json"
    spec = {"quasi_identifiers": {"zip": {"prefix": [5, 2]}}, "sensitive": "diagnosis", "k": 7}
    policy.write_text(json.dumps(spec))
    result = runner.invoke(app, ["check", str(data), "--policy", str(policy)])
    # Six rows cannot be 7-anonymous; the group is named by its code, leading zero kept.
    assert result.exit_code == 1
    assert "zip=02***" in result.output


def test_reclaim_of_a_delivered_purchase_reverts_with_the_reason(summary):
    args = ["reclaim", str(summary.access_purchase), "--account", "lab-a"]
    result = runner.invoke(app, args)
    assert isinstance(result.exception, RevertError)
    assert result.exception.reason == "reclaim: purchase not in escrow"


def test_dispute_of_a_settled_purchase_reverts_with_the_reason(summary):
    result = runner.invoke(app, ["dispute", str(summary.access_purchase), "--buyer", "lab-a"])
    assert isinstance(result.exception, RevertError)
    assert result.exception.reason == "dispute: purchase not delivered"


def test_settle_of_a_settled_purchase_reverts_with_the_reason(summary):
    result = runner.invoke(app, ["settle", str(summary.access_purchase), "--account", "lab-b"])
    assert isinstance(result.exception, RevertError)
    assert result.exception.reason == "settle: purchase not delivered"


def _open_purchase(listing_id: int) -> int:
    from ailedger.config import Settings
    from ailedger.core.storage import open_blob_store
    from ailedger.market.contract import open_market
    from ailedger.market.service import DataBuyer

    with Platform.open(Settings()) as platform:
        market = open_market(platform)
        buyer = DataBuyer(market, platform.account("lab-a"), open_blob_store(platform.settings))
        return buyer.order_compute(listing_id)


def test_reclaim_before_the_deadline_reverts_and_credits_nothing(summary):
    from ailedger.config import Settings
    from ailedger.market.contract import open_market

    purchase_id = _open_purchase(summary.listing_id)
    result = runner.invoke(app, ["reclaim", str(purchase_id), "--account", "lab-a"])
    assert isinstance(result.exception, RevertError)
    assert result.exception.reason == "reclaim: delivery deadline not passed"
    with Platform.open(Settings()) as platform:
        assert open_market(platform).balance_of(platform.account("lab-a").address) == 0


def test_every_command_first_records_a_payment_the_log_lacks(summary):
    """A settlement paid on chain by a run that died before logging it is repaired."""
    from ailedger.config import Settings
    from ailedger.core.storage import open_blob_store
    from ailedger.market.catalog import open_catalog
    from ailedger.market.contract import open_market
    from ailedger.market.records import recorded_purchases
    from ailedger.market.scenario import MARKET_LOG
    from ailedger.market.service import DataBuyer, DataSeller

    purchase_id = _open_purchase(summary.listing_id)
    with Platform.open(Settings()) as platform:
        market = open_market(platform)
        store = open_blob_store(platform.settings)
        buyer = DataBuyer(market, platform.account("lab-a"), store)
        with open_catalog(platform.settings, platform.chain.chain_id, market.address) as catalog:
            seller = DataSeller(market, platform.account("hospital"), store, catalog)  # no log
            delivery = seller.deliver_compute(
                purchase_id, _job(), buyer.delivery_public_key(purchase_id)
            )
            _, signature = buyer.receive_model(purchase_id, delivery.model_hash or "")
            seller.settle(purchase_id, signature)  # paid on chain, nothing logged
        log = platform.open_log(MARKET_LOG)
        try:
            assert purchase_id not in recorded_purchases(log, market)
        finally:
            log.close()

    result = runner.invoke(app, ["purchases"])
    assert result.exit_code == 0, result.output
    with Platform.open(Settings()) as platform:
        log = platform.open_log(MARKET_LOG)
        try:
            record = json.loads(
                log.record(recorded_purchases(log, open_market(platform))[purchase_id])
            )
        finally:
            log.close()
    assert record["type"] == "ailedger.market.compute/v1"
    assert record["model_hash"] == delivery.model_hash


def _job():
    from ailedger.market.compute import ComputeJob
    from ailedger.market.patients import DIAGNOSIS

    return ComputeJob("decision_tree", target=DIAGNOSIS)
