"""The AuditedModel wrapper: every decision recorded, explained and logged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ailedger.audit.audited import AuditedModel, read_stored_input
from ailedger.audit.model_card import model_id_of
from ailedger.audit.record import DecisionRecord, prove_commitment
from ailedger.core.storage import BlobStore, public_key_of
from ailedger.errors import IntegrityError, InvalidInputError


def test_each_application_becomes_one_logged_record(audited, applications, log):
    decisions = audited.decide(applications)
    assert [d.leaf_index for d in decisions] == [0, 1, 2, 3, 4]
    assert log.size == 5


def test_logged_bytes_are_the_records_canonical_json(audited, applications, log):
    decision = audited.decide(applications)[2]
    assert log.record(decision.leaf_index) == decision.record.to_bytes()
    assert log.leaf_hash(decision.leaf_index) == decision.leaf_hash


def test_record_names_model_card_policy_time_and_operator(
    audited, applications, trained, accounts, fixed_now
):
    record = audited.decide(applications[:1])[0].record
    assert record.model_id == trained.card.model_id
    assert record.model_card_hash == trained.card.card_hash()
    assert record.policy.threshold == 0.6
    assert record.decided_at == fixed_now
    assert record.operator == accounts[0].address


def test_output_follows_the_threshold(audited, applications):
    for decision in audited.decide(applications):
        record = decision.record
        assert record.output == ("approve" if record.score >= 0.6 else "deny")


def test_score_is_the_models_probability_of_good_credit(audited, applications, trained):
    frame = trained.card.inputs.to_frame(applications)
    expected = trained.estimator.predict_proba(frame)[:, 1]
    scores = [d.record.score for d in audited.decide(applications)]
    assert scores == pytest.approx(expected, abs=1e-6)


def test_record_holds_no_raw_input_value(audited, applications):
    text = audited.decide(applications[:1])[0].record.to_bytes().decode()
    for feature, value in applications[0].items():
        if isinstance(value, str):
            assert f'"{value}"' not in text, feature


def test_record_explains_the_decision_with_tree_shap(audited, applications):
    explanation = audited.decide(applications[:1])[0].record.explanation
    assert explanation.method == "tree_shap"
    assert set(explanation.contributions) == set(applications[0])
    assert len(explanation.top_features) == 5


def test_data_subject_proves_the_commitment_with_the_returned_salt(audited, applications):
    decision = audited.decide(applications[:1])[0]
    assert prove_commitment(applications[0], decision.salt, decision.record)


def test_operator_table_keeps_the_salt_and_leaf_index(audited, applications, index):
    decision = audited.decide(applications[:1])[0]
    entry = index.get(decision.record.decision_id)
    assert (entry.salt, entry.leaf_index) == (decision.salt, decision.leaf_index)


def test_decision_ids_are_unique(audited, applications):
    ids = [d.record.decision_id for d in audited.decide(applications * 4)]
    assert len(set(ids)) == len(ids)


def test_dataframe_of_applications_is_accepted(audited, applications):
    assert len(audited.decide(pd.DataFrame(applications))) == 5


def test_single_application_mapping_is_accepted(audited, applications):
    assert len(audited.decide(applications[0])) == 1


def test_predict_returns_outcomes_and_logs(audited, applications, log):
    outcomes = audited.predict(applications)
    assert set(outcomes) <= {"approve", "deny"}
    assert log.size == 5


def test_predict_proba_returns_two_columns_and_logs(audited, applications, log):
    probabilities = audited.predict_proba(applications)
    assert probabilities.shape == (5, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert log.size == 5


def test_bad_application_names_the_feature_and_logs_nothing(audited, applications, log, index):
    applications[3] = dict(applications[3], credit_amount="a lot")
    with pytest.raises(InvalidInputError, match="credit_amount") as info:
        audited.decide(applications)
    assert info.value.field == "credit_amount"
    assert log.size == 0
    assert index.count() == 0


def test_missing_feature_names_it_and_logs_nothing(audited, applications, log):
    del applications[0]["purpose"]
    with pytest.raises(InvalidInputError, match="missing feature 'purpose'"):
        audited.decide(applications)
    assert log.size == 0


def test_wrong_applications_type_is_rejected(audited):
    with pytest.raises(InvalidInputError, match="got int"):
        audited.decide(42)


def test_no_applications_logs_nothing(audited, log):
    assert audited.decide([]) == []
    assert log.size == 0


def test_estimator_not_matching_its_card_is_rejected(trained, log, accounts):
    other = trained.card.model_copy(update={"model_id": "00" * 32})
    with pytest.raises(IntegrityError, match="expected model id 0000"):
        AuditedModel(trained.estimator, other, log, operator=accounts[0], threshold=0.5)


def test_invalid_operator_is_rejected(trained, log):
    with pytest.raises(InvalidInputError, match="operator"):
        AuditedModel(trained.estimator, trained.card, log, operator="bob", threshold=0.5)


def test_operator_with_a_bad_checksum_is_rejected(trained, log, accounts):
    address = accounts[0].address
    mistyped = address[:2] + address[2:].swapcase()  # every letter's case flipped
    with pytest.raises(InvalidInputError, match=r"operator: .* invalid EIP-55 checksum"):
        AuditedModel(trained.estimator, trained.card, log, operator=mistyped, threshold=0.5)


def test_non_numeric_threshold_is_rejected(trained, log, accounts):
    with pytest.raises(InvalidInputError, match="threshold must be a number, got str"):
        AuditedModel(trained.estimator, trained.card, log, operator=accounts[0], threshold="0.5")


def test_keeping_raw_inputs_needs_an_auditor_key(trained, log, accounts, settings):
    with pytest.raises(InvalidInputError, match="auditor's public key"):
        AuditedModel(
            trained.estimator,
            trained.card,
            log,
            operator=accounts[0],
            threshold=0.5,
            storage=BlobStore(settings.blobs_dir),
        )


@pytest.fixture
def keeping(trained, log, index, accounts, settings, auditor_key) -> AuditedModel:
    return AuditedModel(
        trained.estimator,
        trained.card,
        log,
        operator=accounts[0],
        threshold=0.6,
        storage=BlobStore(settings.blobs_dir),
        auditor_public_key=public_key_of(auditor_key),
        index=index,
    )


def test_auditor_reads_the_kept_raw_input(keeping, applications, index, settings, auditor_key):
    decision = keeping.decide(applications[:1])[0]
    stored = read_stored_input(
        index, BlobStore(settings.blobs_dir), decision.record.decision_id, auditor_key
    )
    assert stored == applications[0]


def test_kept_raw_input_is_unreadable_without_the_auditors_key(
    keeping, applications, index, settings
):
    decision = keeping.decide(applications[:1])[0]
    with pytest.raises(IntegrityError, match="wrong recipient"):
        read_stored_input(
            index, BlobStore(settings.blobs_dir), decision.record.decision_id, b"\x0f" * 32
        )


def test_reading_input_of_a_decision_that_kept_none_is_an_error(
    audited, applications, index, settings, auditor_key
):
    decision = audited.decide(applications[:1])[0]
    with pytest.raises(InvalidInputError, match="without keeping its raw input"):
        read_stored_input(
            index, BlobStore(settings.blobs_dir), decision.record.decision_id, auditor_key
        )


def test_any_sklearn_classifier_can_be_wrapped(trained, credit_data, log, accounts, applications):
    schema = trained.card.inputs
    categorical = [s.name for s in schema.features if s.kind == "categorical"]
    numeric = [s.name for s in schema.features if s.kind == "numeric"]
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), categorical), (StandardScaler(), numeric)
        ),
        LogisticRegression(max_iter=1000),
    ).fit(schema.frame_from_columns(credit_data.features), credit_data.target)
    card = trained.card.model_copy(update={"model_id": model_id_of(model)})
    audited = AuditedModel(model, card, log, operator=accounts[0], threshold=0.5)
    record = audited.decide(applications[:1])[0].record
    assert record.explanation.method == "linear"
    assert DecisionRecord.from_bytes(log.record(0)) == record
