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

Every signed voucher, receipt and log record goes through here, several times per
paid call, so the encoder is written for speed: dispatch on the exact type first,
C-level string escaping, floats formatted from ``repr`` (already the shortest
round-trip digits), flat objects and arrays of scalars encoded a whole list at a
time, the sorted key layout of each kind of object cached, and the JSON path of a
bad value built only when there is one (as the error unwinds). The first,
straightforward implementation is kept in the tests as the specification.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring
from operator import add

from ailedger.errors import InvalidInputError

__all__ = ["canonical_json"]

# Escapes exactly what RFC 8785 requires ('"', '\\' and control characters, short forms
# where they exist, else \u00xx) and leaves the rest as is; the C version when available.
_string: Callable[[str], str] = encode_basestring
_float_repr = float.__repr__
_int_repr = int.__repr__
_FLOAT = {float}
_STR = {str}
_SCALARS = {str, float, int}
_MAX_LAYOUTS = 1024
_MAX_CACHED_KEYS = 256
_layouts: dict[tuple[object, ...], tuple[list[str], list[str]]] = {}


class _BadValue(Exception):
    """Raised at a bad value; each enclosing container adds its step to ``steps``.

    The message is ``before + path + after``: the path is known only once the
    exception reaches the top, and building it for every value would cost more than
    the encoding itself.
    """

    def __init__(self, before: str, after: str = "") -> None:
        super().__init__(before, after)
        self.before = before
        self.after = after
        self.steps: list[str] = []


def canonical_json(value: object) -> bytes:
    """Encode ``value`` (dicts with str keys, lists, tuples, str, int, float, bool, None).

    Raises :class:`InvalidInputError` naming the JSON path of anything else:
    NaN or infinite floats, non-string keys, unpaired surrogates, other types.
    """
    parts: list[str] = []
    try:
        _encode(value, parts.append)
    except _BadValue as bad:
        path = "$" + "".join(reversed(bad.steps))
        raise InvalidInputError(bad.before + path + bad.after, field=path) from None
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            "canonical JSON: strings must be valid Unicode (unpaired surrogate found)",
            field="value",
        ) from None


def _encode(value: object, out: Callable[[str], None]) -> None:
    # Exact types first (the common case, one pointer comparison each); bool is tested
    # by identity before int, since True is an int in Python but `true` in JSON.
    kind = type(value)
    if kind is str:
        out(_string(value))  # type: ignore[arg-type]
    elif kind is float:
        out(_number(value))  # type: ignore[arg-type]
    elif kind is dict:
        _encode_object(value, out)  # type: ignore[arg-type]
    elif kind is list or kind is tuple:
        _encode_array(value, out)  # type: ignore[arg-type]
    elif value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif kind is int:
        out(_int_repr(value))  # type: ignore[arg-type]
    # Subclasses and abstract containers: the same rules, checked the slow way.
    elif isinstance(value, int):
        out(_int_repr(value))
    elif isinstance(value, float):
        out(_number(value))
    elif isinstance(value, str):
        out(_string(value))
    elif isinstance(value, Mapping):
        _encode_object(value, out)
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        _encode_array(value, out)
    else:
        raise _BadValue(
            "canonical JSON: ",
            f" has unsupported type {kind.__name__}; "
            "expected dict, list, str, int, float, bool or None",
        )


def _encode_array(value: Sequence[object], out: Callable[[str], None]) -> None:
    texts = _scalar_texts(value) if type(value) is list or type(value) is tuple else None
    if texts is not None:
        out("[" + ",".join(texts) + "]")
        return
    out("[")
    for index, item in enumerate(value):
        if index:
            out(",")
        try:
            _encode(item, out)
        except _BadValue as bad:
            bad.steps.append(f"[{index}]")
            raise
    out("]")


def _encode_object(value: Mapping[object, object], out: Callable[[str], None]) -> None:
    keys, prefixes = _layout(value)
    if not keys:
        out("{}")
        return
    values = list(map(value.__getitem__, keys))
    texts = _scalar_texts(values)
    if texts is not None:
        out("".join(map(add, prefixes, texts)) + "}")
        return
    for prefix, key, item in zip(prefixes, keys, values, strict=True):
        out(prefix)
        try:
            _encode(item, out)
        except _BadValue as bad:
            bad.steps.append(f".{key}")
            raise
    out("}")


def _layout(value: Mapping[object, object]) -> tuple[list[str], list[str]]:
    """The keys of ``value`` in RFC 8785 order and what precedes each value (``{"k":``,
    ``,"k":``). Objects of one kind share their keys, so layouts are cached by key tuple."""
    names = tuple(value)
    cached = _layouts.get(names)
    if cached is not None:
        return cached
    try:
        joined = "".join(names)  # type: ignore[arg-type]  # fails unless every key is a str
    except TypeError:
        key = next(key for key in names if not isinstance(key, str))
        raise _BadValue(
            f"canonical JSON: keys must be strings, got {type(key).__name__} key {key!r} in "
        ) from None
    # RFC 8785 3.2.3 sorts by UTF-16 code units. That equals code point order unless a
    # key holds a character outside the Basic Multilingual Plane, so ASCII (the usual
    # case) sorts directly.
    keys: list[str] = sorted(names) if joined.isascii() else sorted(names, key=_utf16_order)  # type: ignore[arg-type]
    prefixes = [("," if index else "{") + _string(key) + ":" for index, key in enumerate(keys)]
    if len(names) <= _MAX_CACHED_KEYS:
        if len(_layouts) >= _MAX_LAYOUTS:
            _layouts.clear()  # a crude bound; real workloads have a handful of record kinds
        _layouts[names] = (keys, prefixes)
    return keys, prefixes


def _scalar_texts(values: Sequence[object]) -> list[str] | None:
    """The encodings of ``values`` if all are str, float or int (not bool), else None.

    Runs whole lists through C-level ``map``: the common records are flat objects of
    one scalar type (a row of floats, a receipt of strings and integers).
    """
    kinds = set(map(type, values))
    if kinds == _FLOAT:
        texts = list(map(_float_repr, values))
        check = ",".join(texts) + ","
        if "e" in check or "n" in check or ".0," in check:  # exponent, inf/nan, integral
            try:
                return list(map(_notation, texts, values))  # type: ignore[arg-type]
            except _BadValue:
                return None  # the caller's loop raises it with its path
        return texts
    if kinds == _STR:
        return list(map(_string, values))  # type: ignore[arg-type]
    if kinds <= _SCALARS:
        try:
            return [
                _string(item)
                if type(item) is str
                else _number(item)
                if type(item) is float
                else _int_repr(item)
                for item in values
            ]  # type: ignore[arg-type]
        except _BadValue:
            return None
    return None


def _utf16_order(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _number(value: float) -> str:
    """ECMAScript Number.prototype.toString, as RFC 8785 3.2.2.3 requires.

    ``repr`` already gives the shortest digits that round-trip, the same digits
    ECMAScript picks; only the notation differs. Python writes fixed notation for
    decimal exponents -4..15 and ECMAScript for -6..20, so a fixed ``repr`` is right
    once a trailing ``.0`` is dropped, and only the rare exponent form is reworked.
    """
    return _notation(_float_repr(value), value)


def _notation(text: str, value: float) -> str:
    """``repr(value)`` (given as ``text``) rewritten in ECMAScript's notation."""
    if "e" not in text:  # fixed notation, or inf / nan
        if text[-2:] == ".0":
            text = text[:-2]
            return "0" if text == "-0" else text
        last = text[-1]
        if last == "f" or last == "n":
            raise _BadValue("canonical JSON: ", f" is {value!r}; only finite numbers are allowed")
        return text
    mantissa, _, exponent = text.partition("e")
    sign = ""
    if mantissa[0] == "-":
        sign, mantissa = "-", mantissa[1:]
    digits = mantissa.replace(".", "")
    k = len(digits)
    n = int(exponent) + 1  # the decimal point sits after n digits
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
