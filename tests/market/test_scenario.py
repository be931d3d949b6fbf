"""The demo's patient pool: every patient paid by every sale, then withdrawn; the log anchored."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from ailedger.market.demo import run_market_scenario
from ailedger.market.scenario import run_patient_market
from ailedger.platform import Platform


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    from ailedger.config import Settings

    settings = Settings(
        home=tmp_path_factory.mktemp("market") / "home", keystore_scrypt_n=2**4, password="pw"
    )
    with Platform.open(settings) as platform:
        return run_patient_market(platform, n_patients=36)


def test_the_pool_passes_the_gate(summary):
    assert summary.gate_summary.startswith("passed")
    assert summary.access_rows_received == summary.rows


def test_every_patient_balance_grows_with_each_sale(summary):
    for patient in summary.earnings:
        assert 0 < patient.after_access_sale < patient.after_compute_sale


def test_every_patient_withdraws_what_they_earned(summary):
    assert all(p.withdrawn == p.after_compute_sale for p in summary.earnings)


def test_earnings_follow_records_times_quality(summary):
    weights = [p.records * p.quality_bps for p in summary.earnings]
    per_weight = [p.after_access_sale / w for p, w in zip(summary.earnings, weights, strict=True)]
    assert max(per_weight) - min(per_weight) < 1e-9 * max(per_weight)


def test_both_sales_are_on_the_anchored_log(summary):
    assert summary.log_size == 2
    assert summary.anchor_tx is not None


def test_the_compute_job_reports_held_out_metrics(summary):
    assert summary.compute_metrics["roc_auc"] > 0.8


def test_the_demo_step_prints_the_tables(settings):
    out = io.StringIO()
    with Platform.open(settings) as platform:
        run_market_scenario(platform, Console(file=out, width=160))
    text = out.getvalue()
    assert "Patients paid automatically" in text
    assert "compute-to-data" in text
    assert "anchored in 0x" in text
