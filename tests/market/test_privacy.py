"""Differentially private summaries: noised, within budget, bounds given not read."""

from __future__ import annotations

import pandas as pd
import pytest

from ailedger.errors import InvalidInputError
from ailedger.market.privacy import private_summary


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"radius": [10.0 + (i % 10) for i in range(2_000)], "diagnosis": ["a", "b"] * 1_000}
    )


def test_large_budget_gives_values_close_to_the_truth(frame):
    summary = private_summary(
        frame, bounds={"radius": (0.0, 30.0)}, category="diagnosis", epsilon=50.0, seed=1
    )
    assert summary.count == pytest.approx(2_000, abs=5)
    assert summary.means["radius"] == pytest.approx(frame["radius"].mean(), abs=0.2)
    assert summary.category_counts == {
        "a": pytest.approx(1_000, abs=5),
        "b": pytest.approx(1_000, abs=5),
    }


def test_released_numbers_are_noised(frame):
    summary = private_summary(frame, bounds={"radius": (0.0, 30.0)}, epsilon=0.5, seed=3)
    assert summary.means["radius"] != frame["radius"].mean()


def test_the_same_seed_gives_the_same_noise(frame):
    first = private_summary(frame, bounds={"radius": (0.0, 30.0)}, seed=7)
    assert private_summary(frame, bounds={"radius": (0.0, 30.0)}, seed=7) == first


@pytest.mark.parametrize("epsilon", [0, -1.0, True, "1"])
def test_a_bad_epsilon_is_refused(frame, epsilon):
    with pytest.raises(InvalidInputError) as refused:
        private_summary(frame, bounds={}, epsilon=epsilon)
    assert refused.value.field == "epsilon"


def test_bounds_for_an_unknown_column_are_refused(frame):
    with pytest.raises(InvalidInputError, match="'height' is not in the dataset"):
        private_summary(frame, bounds={"height": (0.0, 1.0)})


def test_inverted_bounds_are_refused(frame):
    with pytest.raises(InvalidInputError, match="low < high"):
        private_summary(frame, bounds={"radius": (5.0, 1.0)})


def test_an_unknown_category_column_is_refused(frame):
    with pytest.raises(InvalidInputError) as refused:
        private_summary(frame, bounds={}, category="sex")
    assert refused.value.field == "category"


def test_an_empty_frame_is_refused():
    with pytest.raises(InvalidInputError):
        private_summary(pd.DataFrame(), bounds={})
