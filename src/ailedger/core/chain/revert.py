"""Decoding of EVM revert data into a readable reason.

Solidity and Vyper encode ``require``/``assert`` messages as ``Error(string)``;
Solidity's checked arithmetic and ``assert`` use ``Panic(uint256)``. Anything else
(custom errors, bare reverts) is shown as hex so the caller still sees it.
"""

from __future__ import annotations

from eth_abi import decode
from eth_abi.exceptions import DecodingError

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # keccak("Error(string)")[:4]
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # keccak("Panic(uint256)")[:4]

_PANIC_CODES = {
    0x00: "generic compiler panic",
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "invalid storage byte array encoding",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}


def decode_revert_reason(data: bytes) -> str:
    """Turn revert output into a reason string (never raises)."""
    if not data:
        return "reverted without a reason"
    selector, payload = data[:4], data[4:]
    try:
        if selector == ERROR_SELECTOR:
            (reason,) = decode(["string"], payload)
            return str(reason)
        if selector == PANIC_SELECTOR:
            (code,) = decode(["uint256"], payload)
            return f"Panic(0x{code:02x}): {_PANIC_CODES.get(code, 'unknown panic code')}"
    except (DecodingError, ValueError, OverflowError):
        pass
    return f"reverted with data 0x{data.hex()}"
