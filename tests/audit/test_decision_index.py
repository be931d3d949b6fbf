"""The operator's private decision table."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from ailedger.audit.index import DecisionIndex, PendingDecision
from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def index(tmp_path):
    with DecisionIndex(tmp_path / "audit.sqlite") as index:
        yield index


def pending(n: int, start: datetime = T0) -> list[PendingDecision]:
    return [
        PendingDecision(f"{i:064x}", start + timedelta(seconds=i), bytes([i % 256]) * 32, "cc" * 32)
        for i in range(n)
    ]


def test_pending_decision_has_no_leaf_index_until_logged(index):
    index.add_pending(pending(1))
    assert index.get(f"{0:064x}").leaf_index is None
    index.set_leaf_indexes({f"{0:064x}": 7})
    assert index.get(f"{0:064x}").leaf_index == 7


def test_entry_keeps_the_salt(index):
    index.add_pending(pending(2))
    assert index.get(f"{1:064x}").salt == b"\x01" * 32


def test_unknown_decision_id_raises_not_found(index):
    with pytest.raises(NotFoundError, match="no decision with id 'nope'"):
        index.get("nope")


def test_between_returns_logged_decisions_in_the_period_in_log_order(index):
    index.add_pending(pending(5))
    index.set_leaf_indexes({f"{i:064x}": 10 - i for i in range(4)})  # #4 never logged
    found = index.between(T0 + timedelta(seconds=1), T0 + timedelta(seconds=5))
    assert [e.leaf_index for e in found] == [7, 8, 9]


def test_between_rejects_naive_times(index):
    with pytest.raises(InvalidInputError, match="timezone"):
        list(index.between(datetime(2025, 1, 1), datetime(2025, 2, 1)))


def test_duplicate_decision_id_is_rejected_and_keeps_the_first(index):
    index.add_pending(pending(1))
    with pytest.raises(Exception, match="UNIQUE"):
        index.add_pending([PendingDecision(f"{0:064x}", T0, b"\x09" * 32, "dd" * 32)])
    assert index.get(f"{0:064x}").salt == b"\x00" * 32


def test_index_survives_reopening(tmp_path):
    with DecisionIndex(tmp_path / "a.sqlite") as index:
        index.add_pending(pending(1))
    with DecisionIndex(tmp_path / "a.sqlite") as index:
        assert index.get(f"{0:064x}").decided_at == T0


def test_unknown_model_card_raises_not_found(index):
    with pytest.raises(NotFoundError, match="no model card"):
        index.card("ee" * 32)


def test_model_card_is_kept_by_hash(index, trained):
    card_hash = index.add_card(trained.card)
    assert index.card(card_hash) == trained.card


def test_between_pages_through_long_periods(index):
    index.add_pending(pending(2_500))
    index.set_leaf_indexes({f"{i:064x}": i for i in range(2_500)})
    found = [e.leaf_index for e in index.between(T0, T0 + timedelta(days=1))]
    assert found == list(range(2_500))


@pytest.mark.parametrize("keep", [0.0, 0.5])
def test_truncated_index_is_refused_naming_the_file_never_replaced(tmp_path, keep):
    path = tmp_path / "index.sqlite3"
    with DecisionIndex(path) as index:
        index.add_pending(pending(200))
        index.set_leaf_indexes({f"{i:064x}": i for i in range(200)})
    size = int(path.stat().st_size * keep)
    os.truncate(path, size)
    with pytest.raises(IntegrityError) as caught:
        reopened = DecisionIndex(path)
        reopened.count()
    assert str(path) in caught.value.message and "\n" not in caught.value.message
    assert path.stat().st_size == size  # left as it was, for whoever restores it


def test_a_failed_batch_of_pending_decisions_stores_none_of_them(index):
    first, second, third = pending(3)
    index.add_pending([first])
    with pytest.raises(sqlite3.IntegrityError):
        index.add_pending([second, first, third])  # first: duplicate id
    for entry in (second, third):
        with pytest.raises(NotFoundError):
            index.get(entry.decision_id)
