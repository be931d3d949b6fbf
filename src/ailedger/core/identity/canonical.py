"""The one canonical JSON encoding of ailedger: bytes to hash or sign.

It follows RFC 8785 (JSON Canonicalization Scheme): object members sorted by
the UTF-16 code units of their names, no whitespace, strings escaped minimally
and encoded as UTF-8, finite floats written the way ECMAScript prints them.
One deliberate difference: integers are written exactly, in full, whatever
their size. JCS would route them through IEEE doubles and round token amounts
such as ``10**21 + 1``; callers that need strict JCS interoperability keep
integers within +-2**53.

Example::

    >>> canonical_json({"b": [1, 2.5, None], "a": "é"})
    b'{"a":"\\xc3\\xa9","b":[1,2.5,null]}'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

from ailedger.errors import InvalidInputError

__all__ = ["canonical_json"]


def canonical_json(value: object) -> bytes:
    """Encode ``value`` (dicts with str keys, lists, tuples, str, int, float, bool, None).

    Raises :class:`InvalidInputError` naming the JSON path of anything else:
    NaN or infinite floats, non-string keys, unpaired surrogates, other types.
    """
    parts: list[str] = []
    _encode(value, "$", parts)
    text = "".join(parts)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            "canonical JSON: strings must be valid Unicode (unpaired surrogate found)",
            field="value",
        ) from None


def _encode(value: object, path: str, out: list[str]) -> None:
    # bool before int: True is an int in Python but `true` in JSON.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_number(value, path))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, Mapping):
        _encode_object(value, path, out)
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, f"{path}[{index}]", out)
        out.append("]")
    else:
        raise InvalidInputError(
            f"canonical JSON: {path} has unsupported type {type(value).__name__}; "
            "expected dict, list, str, int, float, bool or None",
            field=path,
        )


def _encode_object(value: Mapping[object, object], path: str, out: list[str]) -> None:
    for key in value:
        if not isinstance(key, str):
            raise InvalidInputError(
                f"canonical JSON: keys must be strings, got {type(key).__name__} "
                f"key {key!r} in {path}",
                field=path,
            )
    keys = sorted(value, key=_utf16_order)  # type: ignore[arg-type]
    out.append("{")
    for index, key in enumerate(keys):
        if index:
            out.append(",")
        out.append(_string(key))
        out.append(":")
        _encode(value[key], f"{path}.{key}", out)
    out.append("}")


def _utf16_order(key: str) -> bytes:
    # RFC 8785 3.2.3 sorts by UTF-16 code units, which differs from code point
    # order for characters outside the Basic Multilingual Plane.
    return key.encode("utf-16-be", "surrogatepass")


def _string(value: str) -> str:
    # json.dumps with ensure_ascii=False escapes exactly what RFC 8785 requires:
    # '"', '\\' and control characters (short forms where they exist, else \u00xx).
    return json.dumps(value, ensure_ascii=False)


def _number(value: float, path: str) -> str:
    """ECMAScript Number.prototype.toString, as RFC 8785 3.2.2.3 requires."""
    if not math.isfinite(value):
        raise InvalidInputError(
            f"canonical JSON: {path} is {value!r}; only finite numbers are allowed", field=path
        )
    if value == 0:
        return "0"  # also for -0.0
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that round-trip, the same digits ECMAScript picks.
    decimal = Decimal(repr(abs(value))).normalize()
    _, digit_tuple, exponent = decimal.as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = k + int(exponent)  # the decimal point sits after n digits
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        body = f"0.{'0' * -n}{digits}"
    else:
        e = n - 1
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        body = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + body
