"""The credit-lending scenario the demo runs."""

from __future__ import annotations

import pytest

from ailedger.audit.scenario import open_decision_index, run_credit_scenario
from ailedger.core.log import TransparencyLog, open_store
from ailedger.core.storage import public_key_of
from ailedger.errors import InvalidInputError


def test_scenario_decides_anchors_and_verifies(settings, chain, log, auditor_key):
    steps: list[str] = []
    summary = run_credit_scenario(
        settings,
        chain,
        log,
        120,
        progress=steps.append,
        auditor_public_key=public_key_of(auditor_key),
    )
    assert summary.decisions == 120
    assert 0 < summary.approved < 120
    assert summary.tree_size == log.size == 120
    assert summary.example_verified
    assert summary.cv_auc_mean >= 0.75
    assert summary.raw_inputs_kept
    assert steps[0].startswith("loading the served credit model")
    with open_decision_index(settings) as index:
        assert index.count() == 120
        assert index.get(summary.example_decision_id).blob_address is not None


def test_scenario_anchors_all_decisions_in_one_transaction(settings, chain, log):
    summary = run_credit_scenario(settings, chain, log, 50)
    assert len(log.anchors()) == 1
    assert summary.gas_per_decision == summary.anchor_gas / 50


def test_scenario_needs_an_anchored_log(settings, chain):
    bare = TransparencyLog(open_store(settings))
    with pytest.raises(InvalidInputError, match="anchorer"):
        run_credit_scenario(settings, chain, bare, 10)
    bare.close()


def test_scenario_rejects_a_non_positive_count(settings, chain, log):
    with pytest.raises(InvalidInputError, match="at least 1, got 0"):
        run_credit_scenario(settings, chain, log, 0)
