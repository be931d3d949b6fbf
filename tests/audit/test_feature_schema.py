"""Validation of applications against a model's input schema."""

from __future__ import annotations

import numpy as np
import pytest

from ailedger.audit.credit import credit_schema
from ailedger.errors import InvalidInputError


@pytest.fixture(scope="module")
def schema():
    return credit_schema()


def test_valid_application_is_returned_in_schema_order(schema, application):
    shuffled = dict(reversed(list(application.items())))
    assert list(schema.validate_application(shuffled)) == list(schema.names)


def test_missing_feature_is_named(schema, application):
    del application["savings"]
    with pytest.raises(InvalidInputError, match="missing feature 'savings'") as info:
        schema.validate_application(application)
    assert info.value.field == "savings"


def test_unknown_feature_is_named(schema, application):
    application["age"] = 30
    with pytest.raises(InvalidInputError, match="unknown feature 'age'") as info:
        schema.validate_application(application)
    assert info.value.field == "age"


def test_string_for_numeric_feature_is_rejected(schema, application):
    application["credit_amount"] = "1169"
    with pytest.raises(InvalidInputError, match="'credit_amount' must be a number, got str"):
        schema.validate_application(application)


def test_bool_for_numeric_feature_is_rejected(schema, application):
    application["duration_months"] = True
    with pytest.raises(InvalidInputError, match="'duration_months' must be a number, got bool"):
        schema.validate_application(application)


def test_nan_for_numeric_feature_is_rejected(schema, application):
    application["credit_amount"] = float("nan")
    with pytest.raises(InvalidInputError, match="'credit_amount' must be finite"):
        schema.validate_application(application)


def test_unknown_category_is_rejected_listing_the_allowed_ones(schema, application):
    application["housing"] = "castle"
    with pytest.raises(InvalidInputError, match=r"'housing' must be one of \['rent'"):
        schema.validate_application(application)


def test_number_for_categorical_feature_is_rejected(schema, application):
    application["housing"] = 1
    with pytest.raises(InvalidInputError, match="'housing' must be a string, got int"):
        schema.validate_application(application)


def test_non_mapping_application_is_rejected(schema):
    with pytest.raises(InvalidInputError, match="must be a mapping"):
        schema.validate_application([1, 2, 3])


def test_numpy_scalars_are_accepted_as_python_numbers(schema, application):
    application["credit_amount"] = np.int64(1169)
    checked = schema.validate_application(application)
    assert type(checked["credit_amount"]) is int


def test_frame_has_categorical_dtypes_with_all_documented_categories(schema, application):
    frame = schema.to_frame([application])
    assert list(frame["purpose"].cat.categories)[-3:] == ["retraining", "business", "others"]
    assert frame["credit_amount"].dtype == float


def test_inferred_schema_types_columns_by_dtype(credit_data):
    from ailedger.audit.schema import FeatureSchema

    inferred = FeatureSchema.infer(credit_data.features[["housing", "credit_amount"]])
    housing, amount = inferred.features
    assert (housing.kind, housing.categories) == ("categorical", ("for free", "own", "rent"))
    assert amount.kind == "numeric"
