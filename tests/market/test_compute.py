"""Compute-to-data jobs: allow-listed estimators, bounded parameters, model and metrics out."""

from __future__ import annotations

import hashlib
import os
import pickle

import pandas as pd
import pytest
import skops.io
from hypothesis import given, settings
from hypothesis import strategies as st

from ailedger.errors import IntegrityError, InvalidInputError
from ailedger.market.compute import (
    ALLOWED_ESTIMATORS,
    MIN_CLASS_ROWS,
    MIN_LEAF,
    ComputeJob,
    check_job,
    load_model,
    run_job,
)
from ailedger.market.patients import DIAGNOSIS, pooled_records, synthetic_patients


@pytest.fixture(scope="module")
def released() -> pd.DataFrame:
    frame = pooled_records(synthetic_patients(60))
    return frame.drop(columns=["name", "email", "patient_id"]).assign(age="60+", zip="021**")


def test_a_job_returns_a_model_its_hash_and_held_out_metrics(released):
    result = run_job(released, ComputeJob("logistic_regression", target=DIAGNOSIS))
    assert result.model_hash == hashlib.sha256(result.model).hexdigest()
    assert set(result.metrics) == {"accuracy", "f1_macro", "roc_auc"}
    assert result.metrics["roc_auc"] > 0.8
    assert result.n_train + result.n_test == len(released)


def test_the_model_predicts_and_carries_no_training_rows(released):
    result = run_job(released, ComputeJob("random_forest", target=DIAGNOSIS))
    model = result.load_model()
    assert len(model.predict(released[list(result.features)].to_numpy()[:3])) == 3
    assert all(tree.min_samples_leaf >= MIN_LEAF for tree in model.estimators_)
    first_row = released[list(result.features)].to_numpy()[0].tobytes()
    assert first_row not in result.model


def test_only_numeric_columns_but_the_target_are_features(released):
    result = run_job(released, ComputeJob("decision_tree", target=DIAGNOSIS))
    assert DIAGNOSIS not in result.features
    assert "age" not in result.features and "zip" not in result.features


def test_the_same_job_gives_the_same_model(released):
    job = ComputeJob("gradient_boosting", target=DIAGNOSIS, params={"n_estimators": 20})
    first, second = run_job(released, job), run_job(released, job)
    features = released[list(first.features)].to_numpy(dtype=float)
    assert first.metrics == second.metrics
    assert (
        first.load_model().predict_proba(features) == second.load_model().predict_proba(features)
    ).all()


def test_buyer_parameters_override_defaults(released):
    job = ComputeJob("random_forest", target=DIAGNOSIS, params={"n_estimators": 7})
    assert job.resolved_params()["n_estimators"] == 7
    assert len(run_job(released, job).load_model().estimators_) == 7


def test_an_estimator_outside_the_allow_list_is_refused():
    with pytest.raises(InvalidInputError) as refused:
        ComputeJob("k_neighbors", target=DIAGNOSIS)
    assert refused.value.field == "estimator"
    assert "not on the allow-list" in refused.value.message
    assert "logistic_regression" in refused.value.message


def test_an_untunable_parameter_is_refused():
    with pytest.raises(InvalidInputError, match="not tunable"):
        ComputeJob("random_forest", target=DIAGNOSIS, params={"n_jobs": 64})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_samples_leaf": 1}, "params.min_samples_leaf"),
        ({"n_estimators": 10_000}, "params.n_estimators"),
        ({"n_estimators": 2.5}, "params.n_estimators"),
        ({"max_depth": "deep"}, "params.max_depth"),
        ({"max_depth": True}, "params.max_depth"),
    ],
)
def test_a_parameter_outside_its_bounds_is_refused(params, field):
    with pytest.raises(InvalidInputError) as refused:
        ComputeJob("random_forest", target=DIAGNOSIS, params=params)
    assert refused.value.field == field


def test_a_bad_test_fraction_is_refused():
    with pytest.raises(InvalidInputError) as refused:
        ComputeJob("decision_tree", target=DIAGNOSIS, test_fraction=0.9)
    assert refused.value.field == "test_fraction"


def test_an_unknown_target_is_refused(released):
    with pytest.raises(InvalidInputError) as refused:
        run_job(released, ComputeJob("decision_tree", target="outcome"))
    assert refused.value.field == "target"


def test_a_single_class_target_is_refused(released):
    with pytest.raises(InvalidInputError, match="two classes"):
        run_job(released.assign(**{DIAGNOSIS: "benign"}), ComputeJob("decision_tree", DIAGNOSIS))


def test_a_measurement_as_target_is_refused_naming_the_target(released):
    # Every radius is its own class: nothing to stratify, and not a label.
    with pytest.raises(InvalidInputError) as refused:
        run_job(released, ComputeJob("decision_tree", target="mean radius"))
    assert refused.value.field == "target"
    assert f"at least {MIN_CLASS_ROWS} rows per class" in refused.value.message


def test_a_class_too_rare_to_hold_out_is_refused(released):
    rare = released.copy()
    rare.loc[rare.index[: MIN_CLASS_ROWS - 1], DIAGNOSIS] = "uncertain"
    with pytest.raises(InvalidInputError, match="1 of them in fewer rows"):
        check_job(rare, ComputeJob("decision_tree", target=DIAGNOSIS))


def test_a_held_out_share_smaller_than_the_classes_is_refused(released):
    # 20 rows, four classes of five: 10% holds out two rows, fewer than the classes.
    four = released.head(20).assign(**{DIAGNOSIS: [f"c{i % 4}" for i in range(20)]})
    with pytest.raises(InvalidInputError) as refused:
        check_job(four, ComputeJob("decision_tree", target=DIAGNOSIS, test_fraction=0.1))
    assert refused.value.field == "test_fraction"


def test_check_job_names_the_features_run_job_trains_on(released):
    job = ComputeJob("decision_tree", target=DIAGNOSIS)
    assert check_job(released, job) == run_job(released, job).features


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"target": ""}, "target"), ({"target": 3}, "target"), ({"seed": -1}, "seed")],
)
def test_a_bad_target_or_seed_is_refused(kwargs, field):
    with pytest.raises(InvalidInputError) as refused:
        ComputeJob("decision_tree", **{"target": DIAGNOSIS, **kwargs})
    assert refused.value.field == field


def test_too_few_rows_are_refused(released):
    with pytest.raises(InvalidInputError, match="at least 20 rows"):
        run_job(released.head(5), ComputeJob("decision_tree", target=DIAGNOSIS))


def test_a_tampered_model_does_not_load(released):
    result = run_job(released, ComputeJob("decision_tree", target=DIAGNOSIS))
    forged = type(result)(**{**result.__dict__, "model": pickle.dumps("not the model")})
    with pytest.raises(InvalidInputError, match="do not match"):
        forged.load_model()


def test_every_allowed_estimator_trains(released):
    for name in ALLOWED_ESTIMATORS:
        assert run_job(released, ComputeJob(name, target=DIAGNOSIS)).metrics["accuracy"] > 0.6


class _RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickled_model_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(IntegrityError, match="not a skops model file"):
        load_model(pickle.dumps(_RunsCode(str(marker))))
    assert not marker.exists()


def test_a_skops_file_with_a_type_off_the_allow_list_is_refused(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(IntegrityError, match="refused types"):
        load_model(skops.io.dumps(_RunsCode(str(marker))))
    assert not marker.exists()


def test_a_skops_file_of_an_estimator_not_on_the_allow_list_is_refused():
    from sklearn.neighbors import KNeighborsClassifier

    model = KNeighborsClassifier(n_neighbors=1).fit([[0.0], [1.0]], ["a", "b"])
    with pytest.raises(IntegrityError, match="expected one of"):
        load_model(skops.io.dumps(model))


@settings(max_examples=60, deadline=None)
@given(payload=st.binary(max_size=512))
def test_any_bytes_a_seller_sends_load_as_a_model_or_fail_as_an_integrity_error(payload):
    with pytest.raises(IntegrityError):
        load_model(payload)
