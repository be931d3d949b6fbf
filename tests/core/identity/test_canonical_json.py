"""canonical_json: RFC 8785 (JCS) encoding, with exact integers."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ailedger.core.identity import canonical_json
from ailedger.errors import InvalidInputError
from tests.core.identity.canonical_reference import reference_canonical_json


def test_members_are_sorted_and_whitespace_removed():
    assert canonical_json({"b": 1, "a": {"d": [], "c": {}}}) == b'{"a":{"c":{},"d":[]},"b":1}'


def test_equal_values_encode_identically_whatever_the_insertion_order():
    assert canonical_json({"x": 1, "y": 2}) == canonical_json({"y": 2, "x": 1})


def test_literals():
    assert canonical_json([None, True, False]) == b"[null,true,false]"


def test_tuples_are_arrays():
    assert canonical_json((1, "a")) == b'[1,"a"]'


def test_rfc8785_sample_numbers():
    # RFC 8785 section 3.2.2 example input: 333333333.33333329, 1E30, 4.50, 2e-3, 1e-27
    numbers = [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001]
    assert canonical_json(numbers) == b"[333333333.3333333,1e+30,4.5,0.002,1e-27]"


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (0.0, b"0"),
        (-0.0, b"0"),
        (1.0, b"1"),
        (-1.5, b"-1.5"),
        (5e-324, b"5e-324"),
        (1.7976931348623157e308, b"1.7976931348623157e+308"),
        (9007199254740992.0, b"9007199254740992"),
        (1e20, b"100000000000000000000"),
        (1e21, b"1e+21"),
        (0.000001, b"0.000001"),
        (1e-7, b"1e-7"),
        (123.456e-10, b"1.23456e-8"),
        # Where Python's repr and ECMAScript pick different notations.
        (1e16, b"10000000000000000"),
        (-1e16, b"-10000000000000000"),
        (1.5e17, b"150000000000000000"),
        (2.0**60, b"1152921504606847000"),  # shortest digits, then zeros (not the exact int)
        (1.2345678901234568e20, b"123456789012345680000"),
        (-1e21, b"-1e+21"),
        (1.5e300, b"1.5e+300"),
        (0.0001, b"0.0001"),
        (0.00001, b"0.00001"),
        (1.2345e-5, b"0.000012345"),
        (-0.000001, b"-0.000001"),
        (2.5e-7, b"2.5e-7"),
        (1e15, b"1000000000000000"),
        (0.1, b"0.1"),
        (-123.0, b"-123"),
    ],
)
def test_floats_are_written_as_ecmascript_does(number, expected):
    assert canonical_json(number) == expected


def test_integers_are_exact_beyond_double_precision():
    assert canonical_json({"wei": 10**30 + 1}) == b'{"wei":1000000000000000000000000000001}'


def test_rfc8785_sample_string():
    # RFC 8785 section 3.2.2: "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/"
    value = "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/"
    assert canonical_json(value) == '"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"'.encode()


def test_non_ascii_is_utf8_not_escaped():
    assert canonical_json("é😀") == '"é😀"'.encode()


def test_keys_sort_by_utf16_code_units_not_code_points():
    # RFC 8785 section 3.2.3 sorting example.
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    encoded = canonical_json(dict.fromkeys(keys, 0)).decode()
    order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    positions = [encoded.index(f"{canonical_json(key).decode()}:") for key in order]
    assert positions == sorted(positions)


# --- the fast encoder equals the reference, byte for byte and error for error -------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=6)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)


def _same_outcome(value: object) -> None:
    try:
        expected = reference_canonical_json(value)
    except InvalidInputError as error:
        with pytest.raises(InvalidInputError) as caught:
            canonical_json(value)
        assert (caught.value.message, caught.value.field) == (error.message, error.field)
    else:
        assert canonical_json(value) == expected


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_encodes_as_the_reference_does(number):
    assert canonical_json(number) == reference_canonical_json(number)


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_any_float_bit_pattern_encodes_as_the_reference_does(bits):
    (number,) = struct.unpack("<d", bits.to_bytes(8, "little"))
    _same_outcome(number)  # NaN and infinities included: the same error


@given(st.integers())
def test_any_integer_encodes_as_the_reference_does(number):
    assert canonical_json(number) == reference_canonical_json(number)


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
def test_any_string_encodes_as_the_reference_does(text):
    _same_outcome(text)  # lone surrogates included: the same error


@given(st.dictionaries(st.text(alphabet=st.characters(codec="utf-8")), st.integers()))
def test_any_keys_sort_as_the_reference_sorts_them(value):
    assert canonical_json(value) == reference_canonical_json(value)


@given(_json_values)
def test_any_nested_value_encodes_as_the_reference_does(value):
    assert canonical_json(value) == reference_canonical_json(value)


_bad_leaves = st.sampled_from([math.nan, math.inf, -math.inf, b"raw", {1}, object(), 1j])


@given(
    st.recursive(
        _scalars | _bad_leaves,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=4) | st.integers(0, 3), children, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_any_bad_value_is_rejected_with_the_reference_error_and_path(value):
    _same_outcome(value)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_rejected_naming_the_path(number):
    with pytest.raises(InvalidInputError, match=r"\$\.scores\[1\] is .*only finite") as caught:
        canonical_json({"scores": [1.0, number]})
    assert caught.value.field == "$.scores[1]"


def test_non_string_keys_are_rejected():
    with pytest.raises(InvalidInputError, match=r"keys must be strings, got int key 1 in \$\.a"):
        canonical_json({"a": {1: "x"}})


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, object(), 1j])
def test_unsupported_types_are_rejected_naming_the_type(value):
    with pytest.raises(
        InvalidInputError, match=rf"\$\.v has unsupported type {type(value).__name__}"
    ):
        canonical_json({"v": value})


def test_unpaired_surrogates_are_rejected():
    with pytest.raises(InvalidInputError, match="unpaired surrogate"):
        canonical_json("\ud800")
