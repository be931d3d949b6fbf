"""Both models: shapes, round-zero arrays, local training that improves, unknown names."""

from __future__ import annotations

import numpy as np
import pytest

from ailedger.errors import InvalidInputError
from ailedger.federated.data import split_hospitals
from ailedger.federated.model import MODELS, make_model


@pytest.mark.parametrize("name", MODELS)
def test_local_training_from_the_initial_model_lowers_the_loss(name):
    data = split_hospitals("digits", [0.0, 0.0, 0.0], seed=4)
    model = make_model(name, data.n_features, data.classes)
    start = model.initial()
    assert [a.shape for a in start] == model.shapes
    hospital = data.hospitals[0]
    trained = model.train(start, hospital.X, hospital.y)
    assert [a.shape for a in trained] == model.shapes
    before = model.loss(start, data.X_validation, data.y_validation)
    assert model.loss(trained, data.X_validation, data.y_validation) < before
    assert model.accuracy(trained, data.X_test, data.y_test) > 0.5


def test_the_mlp_starts_from_the_same_random_weights_every_time():
    data = split_hospitals("breast-cancer", [0.0, 0.0], seed=0)
    first = make_model("mlp", data.n_features, data.classes).initial()
    again = make_model("mlp", data.n_features, data.classes).initial()
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert np.abs(first[0]).sum() > 0


def test_an_unknown_model_names_the_field():
    with pytest.raises(InvalidInputError) as error:
        make_model("xgboost", 4, np.array([0, 1]))
    assert error.value.field == "model"
