"""The synthetic application generator fitted to the German Credit marginals."""

from __future__ import annotations

import pytest
from sklearn.metrics import roc_auc_score

from ailedger.audit.credit import credit_schema
from ailedger.audit.synthetic import SyntheticCreditGenerator
from ailedger.errors import InvalidInputError


@pytest.fixture(scope="module")
def generator(credit_data):
    return SyntheticCreditGenerator.fit(credit_data)


def test_sample_has_requested_size_and_all_columns(generator, credit_data):
    sample = generator.sample(500, seed=1)
    assert list(sample.features.columns) == list(credit_data.features.columns)
    assert len(sample.target) == 500


def test_same_seed_gives_same_rows(generator):
    assert generator.sample(50, seed=3).features.equals(generator.sample(50, seed=3).features)


def test_category_frequencies_match_the_real_marginals(generator, credit_data):
    sample = generator.sample(20_000, seed=1)
    real = credit_data.features["checking_account"].value_counts(normalize=True)
    synthetic = sample.features["checking_account"].value_counts(normalize=True)
    for category, share in real.items():
        assert synthetic[category] == pytest.approx(share, abs=0.02)


def test_numeric_mean_matches_the_real_marginal(generator, credit_data):
    sample = generator.sample(20_000, seed=1)
    real = credit_data.features["credit_amount"].mean()
    assert sample.features["credit_amount"].mean() == pytest.approx(real, rel=0.05)


def test_class_balance_matches(generator):
    assert generator.sample(20_000, seed=1).target.mean() == pytest.approx(0.7, abs=0.02)


def test_model_trained_on_real_data_separates_synthetic_classes(generator, trained):
    sample = generator.sample(2_000, seed=2)
    scores = trained.estimator.predict_proba(credit_schema().frame_from_columns(sample.features))
    assert roc_auc_score(sample.target, scores[:, 1]) > 0.7


def test_sample_rejects_non_positive_size(generator):
    with pytest.raises(InvalidInputError, match="positive integer, got 0"):
        generator.sample(0)
