"""The first, straightforward canonical_json: the specification the fast one must match.

Kept verbatim (only renamed) from the original ``ailedger.core.identity.canonical``:
floats go through ``Decimal`` digit by digit and the JSON path is built for every
value. Tests compare the fast encoder against it byte for byte and error for error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

from ailedger.errors import InvalidInputError


def reference_canonical_json(value: object) -> bytes:
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
    return key.encode("utf-16-be", "surrogatepass")


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _number(value: float, path: str) -> str:
    if not math.isfinite(value):
        raise InvalidInputError(
            f"canonical JSON: {path} is {value!r}; only finite numbers are allowed", field=path
        )
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    decimal = Decimal(repr(abs(value))).normalize()
    _, digit_tuple, exponent = decimal.as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = k + int(exponent)
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
