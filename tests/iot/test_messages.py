"""Device messages: the fast digest is EIP-712 exactly, on chain and off."""

from __future__ import annotations

from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from ailedger.contracts.typed_data import ACTION_TYPES, READING_TYPES, device_registry_domain
from ailedger.core.identity import hash_typed
from ailedger.iot import Action, Measurement, MessageCodec, Reading, parse_message

DOMAIN = device_registry_domain(31337, "0x" + "ab" * 20)
DEVICE = Account.from_key(b"\x31" * 32)

measurements = st.builds(
    Measurement,
    name=st.text(min_size=1, max_size=8),
    value=st.integers(min_value=-(2**255), max_value=2**255 - 1),
    unit=st.text(min_size=1, max_size=4),  # at most 16 UTF-8 bytes, as the contract
)
readings = st.builds(
    Reading,
    device=st.just(DEVICE.address),
    seq=st.integers(0, 2**64 - 1),
    timestamp=st.integers(0, 2**64 - 1),
    values=st.lists(measurements, min_size=1, max_size=8).map(tuple),
    location=st.text(max_size=10),
)


@settings(max_examples=80, deadline=None)
@given(reading=readings)
def test_reading_digest_equals_generic_eip712(reading):
    expected = hash_typed(DOMAIN, "Reading", READING_TYPES, reading.to_dict())
    assert MessageCodec(DOMAIN).digest(reading) == expected


@settings(max_examples=40, deadline=None)
@given(
    seq=st.integers(0, 2**64 - 1),
    trigger=st.integers(0, 2**64 - 1),
    model=st.binary(min_size=32, max_size=32),
)
def test_action_digest_equals_generic_eip712(seq, trigger, model):
    action = Action(DEVICE.address, seq, 1, "alarm", model, trigger)
    expected = hash_typed(DOMAIN, "Action", ACTION_TYPES, action.to_dict())
    assert MessageCodec(DOMAIN).digest(action) == expected


@settings(max_examples=40, deadline=None)
@given(reading=readings)
def test_wire_round_trip_recovers_the_signer(reading):
    codec = MessageCodec(DOMAIN)
    signed = codec.sign(DEVICE, reading)
    parsed = parse_message(signed.to_bytes())
    assert parsed == signed
    assert codec.signer(parsed) == DEVICE.address


def test_action_round_trips():
    codec = MessageCodec(DOMAIN)
    signed = codec.sign(DEVICE, Action(DEVICE.address, 9, 5, "compressor-restart", b"\x01" * 32, 8))
    assert parse_message(signed.to_bytes()) == signed


@settings(max_examples=100, deadline=None)
@given(
    raw=st.binary(min_size=20, max_size=20),
    case=st.sampled_from(["lower", "upper", "checksum", "flip"]),
)
def test_cached_checksum_matches_eth_utils(raw, case):
    from eth_utils import is_checksum_address, to_checksum_address

    from ailedger.iot import checksum_address

    canonical = to_checksum_address(raw)
    body = canonical[2:]
    text = {
        "lower": body.lower(),
        "upper": body.upper(),
        "checksum": body,
        "flip": body.swapcase(),
    }[case]
    address = "0x" + text
    valid = text in (body.lower(), body.upper()) or is_checksum_address(address)
    assert checksum_address(address) == (canonical if valid else None)
