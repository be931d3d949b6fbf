"""Per-feature explanations for tree, linear and other models."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ailedger.audit.credit import credit_schema
from ailedger.audit.explain import TOP_FEATURES, Explainer


@pytest.fixture(scope="module")
def schema():
    return credit_schema()


@pytest.fixture(scope="module")
def frame(schema, credit_data):
    return schema.frame_from_columns(credit_data.features)


@pytest.fixture(scope="module")
def linear(schema, frame, credit_data):
    categorical = [s.name for s in schema.features if s.kind == "categorical"]
    numeric = [s.name for s in schema.features if s.kind == "numeric"]
    pipeline = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), categorical), (StandardScaler(), numeric)
        ),
        LogisticRegression(max_iter=1000),
    )
    return pipeline.fit(frame, credit_data.target)


def test_tree_model_gets_tree_shap_adding_up_to_its_raw_score(trained, schema, frame):
    explainer = Explainer(trained.estimator, schema.names)
    explanations = explainer.explain(frame.iloc[:5])
    raw = trained.estimator.predict_proba(frame.iloc[:5], raw_score=True)
    for explanation, score in zip(explanations, raw, strict=True):
        assert explanation.method == "tree_shap"
        total = explanation.base_value + sum(explanation.contributions.values())
        assert total == pytest.approx(score, abs=1e-4)


def test_linear_pipeline_contributions_are_folded_back_onto_inputs(linear, schema, frame):
    explanation = Explainer(linear, schema.names).explain(frame.iloc[:1])[0]
    assert explanation.method == "linear"
    assert list(explanation.contributions) == list(schema.names)
    logit = linear.decision_function(frame.iloc[:1])[0]
    total = explanation.base_value + sum(explanation.contributions.values())
    assert total == pytest.approx(logit, abs=1e-4)


def test_top_features_are_the_largest_contributions(trained, schema, frame):
    explanation = Explainer(trained.estimator, schema.names).explain(frame.iloc[:1])[0]
    magnitudes = sorted((abs(v) for v in explanation.contributions.values()), reverse=True)
    assert len(explanation.top_features) == TOP_FEATURES
    top = [abs(explanation.contributions[name]) for name in explanation.top_features]
    assert top == magnitudes[:TOP_FEATURES]


def test_unsupported_model_says_no_explanation(schema, frame, credit_data):
    numeric = [s.name for s in schema.features if s.kind == "numeric"]
    model = KNeighborsClassifier().fit(frame[numeric], credit_data.target)
    explanation = Explainer(model, numeric).explain(frame[numeric].iloc[:1])[0]
    assert explanation.method == "none"
    assert explanation.contributions == {}


def test_one_explanation_per_row(trained, schema, frame):
    assert len(Explainer(trained.estimator, schema.names).explain(frame.iloc[:7])) == 7


def test_contributions_never_contain_negative_zero(trained, schema, frame):
    explanations = Explainer(trained.estimator, schema.names).explain(frame.iloc[:50])
    values = np.array([v for e in explanations for v in e.contributions.values()])
    assert not np.any(np.signbit(values) & (values == 0))
