"""The demo's services step: two paid services, a few hundred calls, one claim each."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from ailedger.platform import Platform
from ailedger.services.scenario import run_services_scenario

pytestmark = pytest.mark.slow


def test_scenario_pays_claims_and_proves_both_services(settings):
    output = io.StringIO()
    with Platform.open(settings) as platform:
        summary = run_services_scenario(platform, Console(file=output, width=200))
    assert {run.name for run in summary.services} == {"diagnosis", "credit"}
    assert summary.calls >= 200
    for run in summary.services:
        assert run.claimed == run.paid_by_consumer == run.calls * run.price
        assert run.proof_verified
    assert summary.owner_withdrawn == sum(run.claimed for run in summary.services)
    # A few hundred calls already settle for under 1/50 of one transfer per call.
    assert summary.claim_gas_per_call < summary.transfer_gas / 50
    text = output.getvalue()
    assert "Model services" in text and "Signed call receipts" in text


def test_second_run_reuses_the_published_models_and_channels(settings):
    with Platform.open(settings) as platform:
        first = run_services_scenario(platform, Console(file=io.StringIO()))
        second = run_services_scenario(platform, Console(file=io.StringIO()))
    assert [r.model_id for r in first.services] == [r.model_id for r in second.services]
    assert [r.channel_id for r in first.services] == [r.channel_id for r in second.services]
    assert all(run.claimed == run.calls * run.price for run in second.services)
