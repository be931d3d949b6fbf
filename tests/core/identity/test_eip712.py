"""EIP-712 typed-data helpers: signing, recovery, verification, domain separators."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from ailedger.core.identity import Domain, hash_typed, recover_typed, sign_typed, verify_typed
from ailedger.errors import InvalidInputError, UnauthorizedError

# The worked example of the EIP-712 specification ("Ether Mail", signed by keccak256("cow")).
MAIL_DOMAIN = Domain("Ether Mail", "1", 1, "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC")
MAIL_TYPES = {
    "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
    "Mail": [
        {"name": "from", "type": "Person"},
        {"name": "to", "type": "Person"},
        {"name": "contents", "type": "string"},
    ],
}
MAIL = {
    "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
    "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
    "contents": "Hello, Bob!",
}
COW = Account.from_key(keccak(text="cow"))
SPEC_DIGEST = "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
SPEC_SIGNATURE = bytes.fromhex(
    "4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d"
    "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562"
    "1c"
)

RECORD_TYPES = {"Record": [{"name": "id", "type": "bytes32"}, {"name": "n", "type": "uint256"}]}
RECORD = {"id": keccak(b"record"), "n": 7}
DOMAIN = Domain("AILedger Test", "1", 31337)


def test_digest_matches_the_eip712_specification_example():
    assert hash_typed(MAIL_DOMAIN, "Mail", MAIL_TYPES, MAIL).hex() == SPEC_DIGEST


def test_signature_matches_the_eip712_specification_example():
    assert sign_typed(COW, MAIL_DOMAIN, "Mail", MAIL_TYPES, MAIL) == SPEC_SIGNATURE


def test_recover_returns_the_signer_checksum_address():
    assert recover_typed(MAIL_DOMAIN, "Mail", MAIL_TYPES, MAIL, SPEC_SIGNATURE) == COW.address


def test_signature_is_65_bytes_with_v_27_or_28():
    signature = sign_typed(COW, DOMAIN, "Record", RECORD_TYPES, RECORD)
    assert len(signature) == 65
    assert signature[64] in (27, 28)


def test_verify_accepts_the_signer():
    signature = sign_typed(COW, DOMAIN, "Record", RECORD_TYPES, RECORD)
    verify_typed(DOMAIN, "Record", RECORD_TYPES, RECORD, signature, COW.address)


def test_verify_accepts_a_lowercase_expected_address():
    signature = sign_typed(COW, DOMAIN, "Record", RECORD_TYPES, RECORD)
    verify_typed(DOMAIN, "Record", RECORD_TYPES, RECORD, signature, COW.address.lower())


def test_verify_rejects_another_signer_naming_expected_and_got():
    other = Account.from_key(keccak(text="dog"))
    signature = sign_typed(other, DOMAIN, "Record", RECORD_TYPES, RECORD)
    with pytest.raises(UnauthorizedError) as caught:
        verify_typed(DOMAIN, "Record", RECORD_TYPES, RECORD, signature, COW.address)
    assert caught.value.message == (
        f"Record signature is by {other.address}, expected {COW.address}"
    )


def test_verify_rejects_a_changed_message():
    signature = sign_typed(COW, DOMAIN, "Record", RECORD_TYPES, RECORD)
    with pytest.raises(UnauthorizedError):
        verify_typed(DOMAIN, "Record", RECORD_TYPES, {**RECORD, "n": 8}, signature, COW.address)


def test_verify_rejects_a_signature_from_another_domain():
    signature = sign_typed(COW, DOMAIN, "Record", RECORD_TYPES, RECORD)
    other_chain = Domain("AILedger Test", "1", 1)
    with pytest.raises(UnauthorizedError):
        verify_typed(other_chain, "Record", RECORD_TYPES, RECORD, signature, COW.address)


def test_domain_separator_matches_eth_account():
    signable = encode_typed_data(
        full_message={
            "types": {"EIP712Domain": MAIL_DOMAIN.fields(), **MAIL_TYPES},
            "primaryType": "Mail",
            "domain": MAIL_DOMAIN.as_dict(),
            "message": MAIL,
        }
    )
    assert MAIL_DOMAIN.separator() == signable.header


def test_domain_without_verifying_contract_omits_the_field():
    assert [field["name"] for field in DOMAIN.fields()] == ["name", "version", "chainId"]
    assert "verifyingContract" not in DOMAIN.as_dict()


def test_domain_normalises_a_lowercase_verifying_contract():
    domain = Domain("x", "1", 1, MAIL_DOMAIN.verifying_contract.lower())
    assert domain.verifying_contract == MAIL_DOMAIN.verifying_contract


# --- bad input --------------------------------------------------------------------------------


def test_domain_rejects_a_checksum_invalid_verifying_contract():
    bad = "0xCCCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"
    with pytest.raises(InvalidInputError, match="invalid EIP-55 checksum") as caught:
        Domain("x", "1", 1, bad)
    assert caught.value.field == "verifying_contract"


@pytest.mark.parametrize("address", ["0x1234", "not an address", "0x" + "g" * 40])
def test_domain_rejects_a_malformed_verifying_contract(address):
    with pytest.raises(InvalidInputError, match="40 hex digits"):
        Domain("x", "1", 1, address)


@pytest.mark.parametrize("chain_id", [-1, "1", 1.0, True])
def test_domain_rejects_a_bad_chain_id(chain_id):
    with pytest.raises(InvalidInputError, match="chain_id"):
        Domain("x", "1", chain_id)


@pytest.mark.parametrize("length", [0, 64, 66])
def test_recover_rejects_a_signature_of_the_wrong_length(length):
    with pytest.raises(InvalidInputError, match=f"expected 65 bytes, got {length} bytes"):
        recover_typed(DOMAIN, "Record", RECORD_TYPES, RECORD, b"\x01" * length)


def test_recover_rejects_a_signature_that_is_not_bytes():
    with pytest.raises(InvalidInputError, match="got str"):
        recover_typed(DOMAIN, "Record", RECORD_TYPES, RECORD, "0x" + "00" * 65)


def test_recover_rejects_an_unrecoverable_signature():
    with pytest.raises(InvalidInputError, match="not a valid secp256k1 signature"):
        recover_typed(DOMAIN, "Record", RECORD_TYPES, RECORD, b"\x00" * 64 + b"\x1b")


def test_message_missing_a_field_is_invalid_input():
    with pytest.raises(InvalidInputError, match="does not match type Record") as caught:
        sign_typed(COW, DOMAIN, "Record", RECORD_TYPES, {"id": RECORD["id"]})
    assert caught.value.field == "message"


def test_message_value_out_of_range_is_invalid_input():
    with pytest.raises(InvalidInputError, match="does not match type Record"):
        hash_typed(DOMAIN, "Record", RECORD_TYPES, {**RECORD, "n": -1})


def test_primary_type_must_be_declared():
    with pytest.raises(InvalidInputError, match="'Mail' is not among the types"):
        sign_typed(COW, DOMAIN, "Mail", RECORD_TYPES, RECORD)


def test_types_must_not_declare_the_domain_type():
    types = {**RECORD_TYPES, "EIP712Domain": DOMAIN.fields()}
    with pytest.raises(InvalidInputError, match="leave out EIP712Domain"):
        hash_typed(DOMAIN, "Record", types, RECORD)


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def malleate(signature: bytes) -> bytes:
    """The other valid signature of the same message: (r, n - s, v flipped)."""
    s = int.from_bytes(signature[32:64], "big")
    v = 27 if signature[64] == 28 else 28
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([v])


def test_recover_rejects_a_high_s_signature_as_the_contracts_do():
    # snekmate's ecdsa (used by every contract) reverts on s > n/2; off chain must agree,
    # or a verifier accepts a head that AnchorRegistry.anchor would refuse.
    high_s = malleate(sign_typed(COW, DOMAIN, "Record", RECORD_TYPES, RECORD))
    with pytest.raises(InvalidInputError, match="s is above n/2"):
        recover_typed(DOMAIN, "Record", RECORD_TYPES, RECORD, high_s)


def test_recover_rejects_v_other_than_27_or_28():
    signature = sign_typed(COW, DOMAIN, "Record", RECORD_TYPES, RECORD)
    with pytest.raises(InvalidInputError, match="v must be 27 or 28"):
        recover_typed(
            DOMAIN, "Record", RECORD_TYPES, RECORD, signature[:64] + bytes([signature[64] - 27])
        )


@given(st.integers(0, 2**256 - 1))
def test_only_the_low_s_form_of_a_signature_recovers(n):
    message = {"id": keccak(b"record"), "n": n}
    signature = sign_typed(COW, DOMAIN, "Record", RECORD_TYPES, message)
    assert recover_typed(DOMAIN, "Record", RECORD_TYPES, message, signature) == COW.address
    with pytest.raises(InvalidInputError):
        recover_typed(DOMAIN, "Record", RECORD_TYPES, message, malleate(signature))
