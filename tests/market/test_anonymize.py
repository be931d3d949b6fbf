"""The anonymization gate: drop, generalize, check k-anonymity and l-diversity, or refuse."""

from __future__ import annotations

import pandas as pd
import pytest

from ailedger.errors import InvalidInputError
from ailedger.market.anonymize import (
    AnonymizationError,
    Bands,
    Keep,
    Policy,
    Prefix,
    anonymize,
    policy_from_dict,
)


def _people(n: int, *, ages=None, zips=None, diagnoses=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": [f"Person {i}" for i in range(n)],
            "age": ages if ages is not None else [40 + i % 20 for i in range(n)],
            "zip": zips if zips is not None else [f"021{i % 10:02d}" for i in range(n)],
            "diagnosis": diagnoses
            if diagnoses is not None
            else ["malignant" if i % 3 == 0 else "benign" for i in range(n)],
            "radius": [10.0 + i / 7 for i in range(n)],
        }
    )


POLICY = Policy(
    direct_identifiers=("name",),
    quasi_identifiers={"age": Bands((5, 10, 20)), "zip": Prefix((4, 3))},
    sensitive="diagnosis",
)


def test_a_passing_dataset_loses_identifiers_and_keeps_measurements():
    released = anonymize(_people(60), POLICY)
    assert "name" not in released.frame.columns
    assert list(released.frame["radius"]) == list(_people(60)["radius"])
    assert released.report.passed
    assert released.report.dropped_columns == ("name",)


def test_quasi_identifiers_are_generalized_until_every_group_has_k_rows():
    released = anonymize(_people(60), POLICY)
    sizes = released.frame.groupby(["age", "zip"]).size()
    assert sizes.min() >= 5
    assert released.report.k_achieved == sizes.min()
    assert set(released.frame["zip"]) <= {"0210*", "021**"}


def test_quasi_identifiers_are_generalized_even_when_raw_values_would_pass():
    ages = [50] * 10
    released = anonymize(_people(10, ages=ages, zips=["02139"] * 10), POLICY)
    assert set(released.frame["age"]) == {"50-54"}
    assert set(released.frame["zip"]) == {"0213*"}


def test_every_group_holds_l_distinct_sensitive_values():
    released = anonymize(_people(60), POLICY)
    distinct = released.frame.groupby(["age", "zip"])["diagnosis"].nunique()
    assert distinct.min() >= 2
    assert released.report.l_achieved == distinct.min()


def test_the_input_frame_is_not_modified():
    frame = _people(60)
    before = frame.copy()
    anonymize(frame, POLICY)
    pd.testing.assert_frame_equal(frame, before)


def test_a_dataset_failing_k_anonymity_is_refused_naming_columns_and_groups():
    # Ten people, one of them 90 and alone in every age band.
    ages = [50] * 9 + [90]
    with pytest.raises(AnonymizationError) as refused:
        anonymize(_people(10, ages=ages, zips=["02139"] * 10), POLICY)
    report = refused.value.report
    assert not report.passed
    assert set(report.offending_columns) == {"age", "zip"}
    assert [g.values for g in report.too_small_groups] == [{"age": "80-99", "zip": "021**"}]
    assert report.too_small_groups[0].size == 1
    assert "age=80-99, zip=021**" in refused.value.message
    assert refused.value.field == "dataset"


def test_a_dataset_failing_l_diversity_is_refused():
    with pytest.raises(AnonymizationError) as refused:
        anonymize(_people(20, ages=[50] * 20, diagnoses=["benign"] * 20), POLICY)
    report = refused.value.report
    assert report.not_diverse_groups
    assert report.not_diverse_groups[0].distinct_sensitive == 1
    assert "fewer than l=2 distinct values" in refused.value.message


def test_an_undeclared_identifier_column_is_refused_by_name():
    frame = _people(60).assign(email=[f"p{i}@example.org" for i in range(60)])
    with pytest.raises(AnonymizationError) as refused:
        anonymize(frame, POLICY)
    assert refused.value.report.undeclared_identifiers == ("email",)
    assert "email" in refused.value.message


def test_an_undeclared_column_unique_to_every_row_is_refused():
    frame = _people(60).assign(record_code=[f"R-{i:05d}" for i in range(60)])
    with pytest.raises(AnonymizationError) as refused:
        anonymize(frame, POLICY)
    assert refused.value.report.undeclared_identifiers == ("record_code",)


def test_unique_continuous_measurements_are_not_identifiers():
    assert anonymize(_people(60), POLICY).report.undeclared_identifiers == ()


def test_groups_count_people_when_a_subject_column_is_given():
    # Two people with five visits each: five rows per group, but only one person.
    frame = pd.DataFrame(
        {
            "patient": ["a"] * 5 + ["b"] * 5,
            "age": [50] * 5 + [70] * 5,
            "diagnosis": ["benign", "malignant"] * 5,
        }
    )
    policy = Policy((), {"age": Bands((5,))}, "diagnosis", subject="patient")
    with pytest.raises(AnonymizationError) as refused:
        anonymize(frame, policy)
    assert refused.value.report.unit == "people"
    assert {g.size for g in refused.value.report.too_small_groups} == {1}


def test_the_subject_column_is_dropped_from_the_release():
    frame = _people(60).assign(patient=[f"p{i // 2}" for i in range(60)])
    policy = Policy(("name",), POLICY.quasi_identifiers, "diagnosis", subject="patient")
    released = anonymize(frame, policy)
    assert "patient" not in released.frame.columns
    assert released.report.unit == "people"


def test_bands_bottom_and_top_code_outliers():
    column = pd.Series([31, 45, 67, 95])
    assert list(Bands((20,), low=40, high=79).apply(column, 1)) == ["<60", "<60", "60+", "60+"]


def test_prefix_masks_the_rest_of_the_code():
    assert list(Prefix((3, 0)).apply(pd.Series(["02139", None]), 1)) == ["021**", "(missing)"]
    assert list(Prefix((3, 0)).apply(pd.Series(["02139"]), 2)) == ["*****"]


def test_keep_releases_values_as_they_are():
    assert list(Keep().apply(pd.Series(["F", "M"]), 1)) == ["F", "M"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k": 1}, "k"),
        ({"k": True}, "k"),
        ({"l": 0}, "l"),
        ({"k": 3, "l": 4}, "l"),
        ({"sensitive": "age"}, "sensitive"),
        ({"quasi_identifiers": {}}, "quasi_identifiers"),
        ({"direct_identifiers": ("age",)}, "quasi_identifiers"),
        ({"subject": "diagnosis"}, "subject"),
        ({"direct_identifiers": "name"}, "direct_identifiers"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(kwargs, field):
    arguments = {
        "direct_identifiers": ("name",),
        "quasi_identifiers": {"age": Bands((10,))},
        "sensitive": "diagnosis",
        **kwargs,
    }
    with pytest.raises(InvalidInputError) as refused:
        Policy(**arguments)
    assert refused.value.field == field


def test_bad_hierarchies_are_refused():
    with pytest.raises(InvalidInputError):
        Bands(())
    with pytest.raises(InvalidInputError):
        Bands((10,), low=80, high=40)
    with pytest.raises(InvalidInputError):
        Prefix((-1,))


def test_bands_with_a_non_numeric_bound_are_refused():
    with pytest.raises(InvalidInputError) as refused:
        Bands((10,), low="forty")
    assert refused.value.field == "low"


def test_a_policy_from_plain_data_builds_every_hierarchy():
    policy = policy_from_dict(
        {
            "direct_identifiers": ["name"],
            "sensitive": "diagnosis",
            "quasi_identifiers": {"age": {"bands": [5, 10], "low": 40}, "zip": {"prefix": [3]}},
        }
    )
    assert policy.direct_identifiers == ("name",)
    assert policy.quasi_identifiers == {"age": Bands((5, 10), low=40), "zip": Prefix((3,))}
    assert (policy.k, policy.l) == (5, 2)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"direct_identifiers": "name"}, "direct_identifiers"),
        ({"direct_identifiers": [1]}, "direct_identifiers"),
        ({"quasi_identifiers": {"age": {"bands": 10}}}, "bands"),
        ({"quasi_identifiers": {"age": {"prefix": "3"}}}, "prefix"),
        ({"quasi_identifiers": {"age": {"bands": [10], "high": "old"}}}, "high"),
        ({"quasi_identifiers": {"age": "drop"}}, "quasi_identifiers"),
        ({"quasi_identifiers": ["age"]}, "quasi_identifiers"),
        ({"sensitive": None}, "sensitive"),
        ({"subject": 5}, "subject"),
    ],
)
def test_a_bad_policy_in_plain_data_is_refused_naming_the_field(change, field):
    spec = {
        "direct_identifiers": ["name"],
        "sensitive": "diagnosis",
        "quasi_identifiers": {"age": {"bands": [10]}},
        **change,
    }
    with pytest.raises(InvalidInputError) as refused:
        policy_from_dict(spec)
    assert refused.value.field == field


def test_a_frame_missing_a_policy_column_is_refused():
    with pytest.raises(InvalidInputError) as refused:
        anonymize(_people(10).drop(columns=["zip"]), POLICY)
    assert "['zip']" in refused.value.message
    assert not isinstance(refused.value, AnonymizationError)


def test_an_empty_frame_is_refused():
    with pytest.raises(InvalidInputError, match="at least one row"):
        anonymize(_people(0), POLICY)


def test_a_non_frame_is_refused():
    with pytest.raises(InvalidInputError, match="DataFrame"):
        anonymize([{"age": 1}], POLICY)


def test_the_report_serializes_to_plain_data():
    report = anonymize(_people(60), POLICY).report.to_dict()
    assert report["passed"] is True
    assert report["summary"].startswith("passed:")
