"""The credit-scoring model and its model card."""

from __future__ import annotations

import hashlib
import pickle

import pytest

from ailedger.audit.credit import credit_schema, train_credit_model
from ailedger.audit.german_credit import PROTECTED_COLUMNS
from ailedger.audit.model_card import ModelCard, model_id_of


def test_cross_validated_auc_reaches_the_published_range(trained):
    assert trained.card.cv_folds == 10
    assert trained.card.cv_auc_mean >= 0.75


def test_model_never_sees_sex_or_age(trained):
    inputs = set(trained.estimator.feature_name_)
    assert inputs == set(credit_schema().names)
    assert not inputs & set(PROTECTED_COLUMNS)


def test_model_id_is_sha256_of_the_pickled_model(trained):
    expected = hashlib.sha256(pickle.dumps(trained.estimator, protocol=5)).hexdigest()
    assert trained.card.model_id == expected == model_id_of(trained.estimator)


def test_training_is_reproducible(trained, credit_data):
    assert train_credit_model(credit_data).card.model_id == trained.card.model_id


def test_card_reports_fairness_across_sex_and_age_groups(trained):
    by_attribute = {f.attribute: f for f in trained.card.fairness}
    assert set(by_attribute) == {"sex", "age_group"}
    assert by_attribute["sex"].groups == {"female": 310, "male": 690}
    assert by_attribute["age_group"].groups == {"< 25": 149, ">= 25": 851}
    for fairness in by_attribute.values():
        rates = fairness.selection_rate.values()
        assert fairness.demographic_parity_difference == pytest.approx(max(rates) - min(rates))
        assert 0 <= fairness.equalized_odds_difference <= 1


def test_card_describes_training_data_and_use(trained):
    card = trained.card
    assert card.training_data.rows == 1000
    assert card.training_data.positive_rate == 0.7
    assert "German Credit" in card.training_data.description
    assert card.intended_use and card.limitations


def test_card_hash_changes_with_any_field(trained):
    changed = trained.card.model_copy(update={"cv_auc_mean": 0.99})
    assert changed.card_hash() != trained.card.card_hash()


def test_card_round_trips_through_json(trained):
    card = ModelCard.model_validate(trained.card.to_json_dict())
    assert card.card_hash() == trained.card.card_hash()
