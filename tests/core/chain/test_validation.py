"""Address and amount checks, and revert reason decoding."""

from __future__ import annotations

import pytest
from eth_abi import encode

from ailedger.core.chain import check_amount, decode_revert_reason, to_checksum
from ailedger.errors import InvalidInputError

ANVIL_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.mark.parametrize(
    "given", [ANVIL_0, ANVIL_0.lower(), "0x" + ANVIL_0[2:].upper(), bytes.fromhex(ANVIL_0[2:])]
)
def test_valid_address_forms_are_checksummed(given) -> None:
    assert to_checksum(given) == ANVIL_0


def test_wrong_checksum_is_rejected_with_the_expected_form() -> None:
    wrong = "0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # first letter's case flipped
    with pytest.raises(InvalidInputError, match=ANVIL_0) as excinfo:
        to_checksum(wrong, field="recipient")
    assert excinfo.value.field == "recipient"
    assert "checksum" in excinfo.value.message


@pytest.mark.parametrize(
    "bad", ["", "0x", ANVIL_0[:-1], ANVIL_0 + "0", ANVIL_0[2:], "0x" + "g" * 40, b"\x00" * 19, None]
)
def test_malformed_address_names_the_field(bad) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        to_checksum(bad, field="owner")
    assert excinfo.value.field == "owner"
    assert excinfo.value.message.startswith("owner:")


@pytest.mark.parametrize("value", [0, 1, 2**256 - 1])
def test_valid_amounts_pass(value: int) -> None:
    assert check_amount(value) == value


@pytest.mark.parametrize("value", [-1, 1.0, "1", True, None, 2**256])
def test_bad_amounts_name_the_field(value) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        check_amount(value, field="price")
    assert excinfo.value.field == "price"


def test_error_string_revert_is_decoded() -> None:
    data = bytes.fromhex("08c379a0") + encode(["string"], ["not allowed"])
    assert decode_revert_reason(data) == "not allowed"


def test_panic_revert_is_decoded_with_its_meaning() -> None:
    data = bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])
    assert decode_revert_reason(data) == "Panic(0x11): arithmetic overflow or underflow"


def test_empty_revert_says_so() -> None:
    assert decode_revert_reason(b"") == "reverted without a reason"


def test_custom_error_is_shown_as_hex() -> None:
    assert decode_revert_reason(b"\xde\xad\xbe\xef") == "reverted with data 0xdeadbeef"


def test_truncated_error_string_does_not_raise() -> None:
    assert decode_revert_reason(bytes.fromhex("08c379a0") + b"\x00" * 5).startswith("reverted with")
