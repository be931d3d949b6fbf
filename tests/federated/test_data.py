"""Non-IID hospital splits: every class everywhere, skewed sizes, known quality, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from ailedger.errors import InvalidInputError
from ailedger.federated.data import MIN_PER_CLASS, split_hospitals


def test_every_hospital_sees_every_class_and_sizes_differ():
    data = split_hospitals("digits", [0.0] * 6, seed=3)
    for hospital in data.hospitals:
        counts = np.bincount(hospital.y, minlength=10)
        assert counts.min() >= MIN_PER_CLASS
    assert len({len(h.y) for h in data.hospitals}) > 1


def test_label_noise_flips_that_share_and_lowers_true_quality():
    clean = split_hospitals("breast-cancer", [0.0, 0.0], seed=2)
    noisy = split_hospitals("breast-cancer", [0.0, 0.4], seed=2)
    flipped = (clean.hospitals[1].y != noisy.hospitals[1].y).mean()
    assert flipped == pytest.approx(0.4, abs=0.02)
    assert noisy.hospitals[1].true_quality == pytest.approx(0.6 * len(noisy.hospitals[1].y))


@pytest.mark.parametrize(
    ("task", "noise", "field"),
    [
        ("mnist", [0.0, 0.0], "task"),
        ("digits", [0.0], "hospitals"),
        ("digits", [0.0, 0.5], "label_noise"),
        ("breast-cancer", [0.0] * 60, "hospitals"),
    ],
)
def test_bad_splits_name_the_field(task, noise, field):
    with pytest.raises(InvalidInputError) as error:
        split_hospitals(task, noise)
    assert error.value.field == field
