"""Counting how deep untrusted JSON nests, before parsing it.

Importing the embedded chain raises the recursion limit to 100,000 (py_ecc), after
which ``json.loads`` of text nested that deep overflows the C stack: the process
dies (SIGSEGV) instead of raising ``RecursionError``. Every services parser of a
counterparty's JSON (a host's answer, a proof's record) counts first.

A shared depth-limited parser for the API, hosts and clients is being added on
another branch (HTTP safety); when it lands, this module should give way to it.
"""

from __future__ import annotations


def json_nesting(raw: bytes | str, limit: int) -> int:
    """The deepest ``[``/``{`` nesting of the JSON text ``raw`` (brackets inside strings
    skipped), or the first depth above ``limit`` (counting stops there)."""
    data = raw.encode() if isinstance(raw, str) else raw
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest
