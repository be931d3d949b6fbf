"""Listing recent decisions and the log's tree heads, as the API and dashboard show them."""

from __future__ import annotations

import pytest

from ailedger.audit import head_history, open_decision_reader, recent_decisions
from ailedger.errors import InvalidInputError


def test_recent_decisions_are_newest_first_with_their_anchoring(audited, log, index, applications):
    decided = audited.decide(applications[:2])
    log.close_batch()
    decided += audited.decide(applications[2:3])
    listed = recent_decisions(log, index, limit=10)
    assert [d.record for d in listed] == [d.record for d in reversed(decided)]
    assert [d.leaf_index for d in listed] == [2, 1, 0]
    assert [d.anchored for d in listed] == [False, True, True]


def test_recent_decisions_stop_at_the_limit(audited, log, index, applications):
    audited.decide(applications[:3])
    assert [d.leaf_index for d in recent_decisions(log, index, limit=2)] == [2, 1]


@pytest.mark.parametrize("limit", [0, -1, 501, True, "5"])
def test_recent_decisions_refuse_a_bad_limit(log, index, limit):
    with pytest.raises(InvalidInputError) as error:
        recent_decisions(log, index, limit=limit)
    assert error.value.field == "limit"


def test_head_history_is_newest_first_with_batch_sizes_and_anchors(audited, log, applications):
    audited.decide(applications[:2])
    log.close_batch()
    audited.decide(applications[2:5])
    log.close_batch()
    history = head_history(log)
    assert [(h.head.head.tree_size, h.batch_size) for h in history] == [(5, 3), (2, 2)]
    assert [h.anchor.tree_size for h in history] == [5, 2]


def test_reader_sees_what_the_writer_appended(settings, audited, applications):
    decision = audited.decide(applications[0])[0]
    with open_decision_reader(settings) as (log, index):
        [listed] = recent_decisions(log, index)
    assert listed.record == decision.record
    assert listed.anchored is False
