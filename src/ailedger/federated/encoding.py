"""The one canonical encoding of model parameters, and its hash.

``ENCODING_TAG``, then per array: its number of dimensions (1 byte), each
dimension (4 bytes, big-endian), then its values as little-endian IEEE 754
float64 in C order. The same arrays give the same bytes on any machine, so a
client's signed update hash can be recomputed by the server and by anyone
holding the parameters.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

import numpy as np
from flwr.app import ArrayRecord

__all__ = ["ENCODING_TAG", "encode_arrays", "from_record", "parameters_hash", "to_record"]

ENCODING_TAG = b"ailedger-fl-arrays/1"


def encode_arrays(arrays: Sequence[np.ndarray]) -> bytes:
    """The canonical bytes of ``arrays``."""
    parts = [ENCODING_TAG, struct.pack(">I", len(arrays))]
    for array in arrays:
        values = np.ascontiguousarray(array, dtype="<f8")
        parts.append(struct.pack(">B", values.ndim))
        parts.append(struct.pack(f">{values.ndim}I", *values.shape))
        parts.append(values.tobytes())
    return b"".join(parts)


def parameters_hash(arrays: Sequence[np.ndarray]) -> bytes:
    """SHA-256 of :func:`encode_arrays`: the hash clients sign and rounds log."""
    return hashlib.sha256(encode_arrays(arrays)).digest()


def to_record(arrays: Sequence[np.ndarray]) -> ArrayRecord:
    """Arrays as the ``ArrayRecord`` Flower messages carry."""
    return ArrayRecord([np.asarray(array, dtype=float) for array in arrays])


def from_record(record: ArrayRecord) -> list[np.ndarray]:
    """The arrays of an ``ArrayRecord``, in order."""
    return record.to_numpy_ndarrays()
