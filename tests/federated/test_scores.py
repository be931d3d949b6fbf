"""GTG-Shapley: exact on additive games, zero for dummies, negative for harm, truncation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ailedger.federated.scores import fedavg_steps, gtg_shapley


def _additive(values):
    return lambda members: float(sum(values[i] for i in members))


def test_an_additive_game_gets_each_players_own_value():
    values = [3.0, 1.0, 0.0, -2.0]
    report = gtg_shapley(_additive(values), 4, truncation=0.0)
    assert report.shapley == pytest.approx(values)
    assert report.leave_one_out == pytest.approx(values)


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(-10, 10, allow_nan=False), min_size=2, max_size=7))
def test_scores_add_up_to_the_rounds_gain(values):
    # Efficiency: every permutation's marginals sum to U(N) - U(empty) when not truncated.
    report = gtg_shapley(_additive(values), len(values), truncation=0.0, round_truncation=0.0)
    assert sum(report.shapley) == pytest.approx(sum(values), abs=1e-9)


def test_a_round_without_gain_is_truncated_without_sampling():
    report = gtg_shapley(lambda members: 1.0, 5)
    assert report.truncated_round and report.shapley == [0.0] * 5 and report.permutations == 0


def test_a_client_sending_the_previous_model_scores_exactly_zero():
    previous = [np.zeros(3)]
    updates = [[np.array([1.0, 0, 0])], [np.zeros(3)], [np.array([0, 2.0, 0])]]
    model = fedavg_steps(previous, updates, [10, 50, 10])
    target = np.array([1.0, 2.0, 0.0]) * 10 / 70

    def utility(members):
        return -float(np.sum((model(members)[0] - target) ** 2))

    report = gtg_shapley(utility, 3, truncation=0.0)
    assert report.shapley[1] == 0.0
    assert report.shapley[0] > 0 and report.shapley[2] > 0


def test_the_full_coalition_is_fedavgs_model():
    previous = [np.array([1.0, 1.0])]
    updates = [[np.array([3.0, 1.0])], [np.array([1.0, 5.0])]]
    model = fedavg_steps(previous, updates, [1, 3])
    assert model(frozenset({0, 1}))[0] == pytest.approx(np.array([1.5, 4.0]))
    assert model(frozenset())[0] == pytest.approx(previous[0])


def test_a_harmful_client_scores_below_zero():
    values = [1.0, 1.0, -5.0]
    report = gtg_shapley(_additive(values), 3)
    assert report.shapley[2] < 0 < min(report.shapley[:2])
