"""The canonical parameter encoding: stable bytes, sensitive to every value and shape."""

from __future__ import annotations

import hashlib

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays as np_arrays

from ailedger.federated.encoding import (
    ENCODING_TAG,
    encode_arrays,
    from_record,
    parameters_hash,
    to_record,
)


def test_the_encoding_is_tag_count_then_shape_and_little_endian_doubles():
    encoded = encode_arrays([np.array([[1.0, 2.0]])])
    assert encoded == (
        ENCODING_TAG
        + b"\x00\x00\x00\x01"
        + b"\x02"
        + b"\x00\x00\x00\x01\x00\x00\x00\x02"
        + np.array([1.0, 2.0], dtype="<f8").tobytes()
    )
    assert parameters_hash([np.array([[1.0, 2.0]])]) == hashlib.sha256(encoded).digest()


def test_the_same_values_in_another_shape_hash_differently():
    values = np.arange(6.0)
    assert parameters_hash([values.reshape(2, 3)]) != parameters_hash([values.reshape(3, 2)])


def test_float32_and_big_endian_inputs_encode_as_the_same_doubles():
    values = np.array([0.5, -2.0])
    assert encode_arrays([values.astype(">f8")]) == encode_arrays([values.astype(np.float32)])


@given(
    np_arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 4)),
        elements=st.floats(-1e6, 1e6),
    )
)
def test_a_record_round_trip_keeps_the_hash(values):
    assert parameters_hash(from_record(to_record([values]))) == parameters_hash([values])
