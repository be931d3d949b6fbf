"""Regulator export: decisions of a period with proofs and EU AI Act Article 12 fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ailedger.audit.audited import AuditedModel
from ailedger.audit.export import export_decisions
from ailedger.audit.verify import verify_bundle
from ailedger.errors import InvalidInputError

DAY = timedelta(days=1)


@pytest.fixture
def march_first(audited, applications, log):
    """Three decisions on 2025-03-01, anchored."""
    decisions = audited.decide(applications[:3])
    log.close_batch()
    return decisions


def export_list(start, end, log, index) -> list[dict]:
    return list(export_decisions(start, end, log, index))


def test_export_covers_every_decision_of_the_period(march_first, fixed_now, log, index):
    rows = export_list(fixed_now - DAY, fixed_now + DAY, log, index)
    assert [r["decision_id"] for r in rows] == [d.record.decision_id for d in march_first]


def test_export_lines_carry_article_12_fields(
    march_first, fixed_now, log, index, trained, accounts
):
    row = export_list(fixed_now - DAY, fixed_now + DAY, log, index)[0]
    assert row["period_of_use"] == {"start": "2025-03-01T12:00:00Z", "end": "2025-03-01T12:00:00Z"}
    assert row["reference_database"]["model_id"] == trained.card.model_id
    assert row["reference_database"]["training_data"]["sha256"] == trained.card.training_data.sha256
    assert row["input_data"]["commitment"] == march_first[0].record.input_commitment
    assert row["verification"] == {"operator": accounts[0].address}
    assert row["result"]["output"] == march_first[0].record.output


def test_exported_proofs_verify(march_first, fixed_now, log, index, chain):
    for row in export_list(fixed_now - DAY, fixed_now + DAY, log, index):
        assert verify_bundle(json.loads(json.dumps(row["proof"])), chain).ok


def test_export_leaves_out_decisions_outside_the_period(march_first, fixed_now, log, index):
    assert export_list(fixed_now + timedelta(seconds=1), fixed_now + DAY, log, index) == []
    assert export_list(fixed_now - DAY, fixed_now, log, index) == []


def test_unanchored_decision_is_exported_without_proof(
    march_first, trained, log, index, accounts, applications, fixed_now
):
    later = AuditedModel(
        trained.estimator,
        trained.card,
        log,
        operator=accounts[0],
        threshold=0.6,
        index=index,
        clock=lambda: fixed_now + timedelta(hours=1),
    )
    later.decide(applications[:1])
    rows = export_list(fixed_now - DAY, fixed_now + DAY, log, index)
    assert [r["proof"] is None for r in rows] == [False, False, False, True]


def test_export_rejects_naive_times(log, index):
    with pytest.raises(InvalidInputError, match="since must be a timezone-aware datetime"):
        export_list(datetime(2025, 1, 1), datetime(2025, 2, 1, tzinfo=UTC), log, index)


def test_export_rejects_an_empty_period(log, index, fixed_now):
    with pytest.raises(InvalidInputError, match="until must be after since"):
        export_list(fixed_now, fixed_now, log, index)
