"""DeviceRegistry: devices, their keys and status; only owners and their operators change them."""

from __future__ import annotations

import boa
import pytest
from eth_account import Account
from eth_utils import keccak

from ailedger.contracts.typed_data import ACTION_TYPES, READING_TYPES, device_registry_domain
from ailedger.core.identity import hash_typed, sign_typed

KIND = b"cold-room".ljust(32, b"\0")
FIRMWARE = keccak(b"firmware 1.0")
FIRMWARE_2 = keccak(b"firmware 1.1")
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ACTIVE, SUSPENDED, REVOKED = 1, 2, 3


@pytest.fixture
def registry(deploy):
    return deploy("DeviceRegistry")


@pytest.fixture
def owner() -> str:
    return boa.env.generate_address("owner")


@pytest.fixture
def operator() -> str:
    return boa.env.generate_address("operator")


@pytest.fixture
def stranger() -> str:
    return boa.env.generate_address("stranger")


@pytest.fixture
def device_key():
    return Account.from_key(b"\x11" * 32)


@pytest.fixture
def device(registry, owner, device_key) -> str:
    registry.register(device_key.address, owner, KIND, FIRMWARE, sender=owner)
    return device_key.address


def _events(contract) -> list[tuple[str, object]]:
    # get_logs() reads the most recent call: read it before any view call.
    return [(type(event).__name__, event) for event in contract.get_logs()]


def _reading(device: str, seq: int = 1, values=None, location: str = "") -> dict:
    return {
        "device": device,
        "seq": seq,
        "timestamp": 1_700_000_000_000,
        "values": values
        if values is not None
        else [
            {"name": "temperature", "value": 4250, "unit": "Cel"},
            {"name": "humidity", "value": -12, "unit": "%"},
        ],
        "location": location,
    }


def _reading_tuple(reading: dict) -> tuple:
    values = [(m["name"], m["value"], m["unit"]) for m in reading["values"]]
    return (reading["device"], reading["seq"], reading["timestamp"], values, reading["location"])


def _action(device: str) -> dict:
    return {
        "device": device,
        "seq": 7,
        "timestamp": 1_700_000_000_500,
        "kind": "alarm",
        "modelId": keccak(b"model"),
        "triggerSeq": 6,
    }


def _action_tuple(action: dict) -> tuple:
    keys = ("device", "seq", "timestamp", "kind", "modelId", "triggerSeq")
    return tuple(action[key] for key in keys)


def _domain(registry, chain_id):
    return device_registry_domain(chain_id, registry.address)


# --- registration -----------------------------------------------------------------------------


def test_register_stores_every_field(registry, owner, device):
    entry = registry.get_device(device)
    assert (entry.key, entry.owner, entry.kind, entry.firmware_hash) == (
        device,
        owner,
        KIND,
        FIRMWARE,
    )
    assert entry.status == ACTIVE
    assert entry.registered_at == boa.env.evm.patch.timestamp
    assert registry.is_active(device)
    assert registry.device_count() == 1


def test_register_emits_device_registered(registry, owner, device_key):
    registry.register(device_key.address, owner, KIND, FIRMWARE, sender=owner)
    [(name, event)] = _events(registry)
    assert name == "DeviceRegistered"
    assert (event.device, event.owner, event.kind, event.firmware_hash, event.by) == (
        device_key.address,
        owner,
        KIND,
        FIRMWARE,
        owner,
    )


def test_operator_registers_for_owner(registry, owner, operator, device_key):
    registry.grant_operator(operator, sender=owner)
    registry.register(device_key.address, owner, KIND, FIRMWARE, sender=operator)
    assert registry.get_device(device_key.address).owner == owner


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("device", "register: device is the zero address"),
        ("owner", "register: owner is the zero address"),
        ("kind", "register: kind is empty"),
        ("firmware", "register: firmware hash is zero"),
    ],
)
def test_register_rejects_empty_fields(registry, owner, device_key, field, reason):
    args = {"device": device_key.address, "owner": owner, "kind": KIND, "firmware": FIRMWARE}
    args[field] = b"\0" * 32 if field in ("kind", "firmware") else "0x" + "00" * 20
    with boa.reverts(reason):
        registry.register(
            args["device"], args["owner"], args["kind"], args["firmware"], sender=owner
        )


def test_register_by_stranger_reverts(registry, owner, stranger, device_key):
    with boa.reverts("register: caller is not the owner or its operator"):
        registry.register(device_key.address, owner, KIND, FIRMWARE, sender=stranger)


def test_register_same_key_twice_reverts(registry, owner, device):
    with boa.reverts("register: key already used"):
        registry.register(device, owner, KIND, FIRMWARE, sender=owner)


def test_register_a_retired_key_reverts(registry, owner, device):
    registry.rotate_key(device, boa.env.generate_address("new"), sender=owner)
    with boa.reverts("register: key already used"):
        registry.register(device, owner, KIND, FIRMWARE, sender=owner)


def test_get_device_of_unknown_device_reverts(registry, stranger):
    with boa.reverts("get_device: unknown device"):
        registry.get_device(stranger)


# --- operators --------------------------------------------------------------------------------


def test_grant_and_revoke_operator_emit_events(registry, owner, operator):
    registry.grant_operator(operator, sender=owner)
    assert _events(registry)[0][0] == "OperatorGranted"
    assert registry.is_operator(owner, operator)
    registry.revoke_operator(operator, sender=owner)
    [(name, event)] = _events(registry)
    assert (name, event.owner, event.operator) == ("OperatorRevoked", owner, operator)
    assert not registry.is_operator(owner, operator)


def test_grant_operator_zero_address_reverts(registry, owner):
    with boa.reverts("grant_operator: operator is the zero address"):
        registry.grant_operator("0x" + "00" * 20, sender=owner)


def test_grant_operator_to_self_reverts(registry, owner):
    with boa.reverts("grant_operator: owner cannot be its own operator"):
        registry.grant_operator(owner, sender=owner)


def test_grant_operator_twice_reverts(registry, owner, operator):
    registry.grant_operator(operator, sender=owner)
    with boa.reverts("grant_operator: already an operator"):
        registry.grant_operator(operator, sender=owner)


def test_revoke_operator_not_granted_reverts(registry, owner, operator):
    with boa.reverts("revoke_operator: not an operator"):
        registry.revoke_operator(operator, sender=owner)


def test_revoked_operator_can_no_longer_manage(registry, owner, operator, device):
    registry.grant_operator(operator, sender=owner)
    registry.suspend(device, sender=operator)
    registry.revoke_operator(operator, sender=owner)
    with boa.reverts("resume: caller is not the owner or its operator"):
        registry.resume(device, sender=operator)


def test_operator_of_another_owner_cannot_manage(registry, owner, operator, stranger, device):
    registry.grant_operator(operator, sender=stranger)
    with boa.reverts("suspend: caller is not the owner or its operator"):
        registry.suspend(device, sender=operator)


# --- lifecycle --------------------------------------------------------------------------------


def test_suspend_resume_revoke_change_status_and_emit(registry, owner, device):
    registry.suspend(device, sender=owner)
    assert _events(registry)[0][0] == "DeviceSuspended"
    assert registry.get_device(device).status == SUSPENDED
    assert not registry.is_active(device)
    registry.resume(device, sender=owner)
    assert _events(registry)[0][0] == "DeviceResumed"
    assert registry.is_active(device)
    registry.revoke(device, sender=owner)
    [(name, event)] = _events(registry)
    assert (name, event.device, event.by) == ("DeviceRevoked", device, owner)
    assert registry.get_device(device).status == REVOKED


def test_rotate_key_changes_key_and_emits(registry, owner, device):
    new_key = boa.env.generate_address("new")
    registry.rotate_key(device, new_key, sender=owner)
    [(name, event)] = _events(registry)
    assert (name, event.previous_key, event.new_key) == ("KeyRotated", device, new_key)
    assert registry.get_device(device).key == new_key


def test_update_firmware_changes_hash_and_emits(registry, owner, device):
    registry.update_firmware(device, FIRMWARE_2, sender=owner)
    [(name, event)] = _events(registry)
    assert (name, event.firmware_hash) == ("FirmwareUpdated", FIRMWARE_2)
    assert registry.get_device(device).firmware_hash == FIRMWARE_2


def _call(registry, function: str, device: str, sender: str) -> None:
    extra = {
        "rotate_key": (boa.env.generate_address("fresh"),),
        "update_firmware": (FIRMWARE_2,),
    }.get(function, ())
    getattr(registry, function)(device, *extra, sender=sender)


MANAGING = ["rotate_key", "update_firmware", "suspend", "resume", "revoke"]


@pytest.mark.parametrize("function", MANAGING)
def test_managing_an_unknown_device_reverts(registry, owner, stranger, function):
    with boa.reverts(f"{function}: unknown device"):
        _call(registry, function, stranger, owner)


@pytest.mark.parametrize("function", MANAGING)
def test_managing_by_stranger_reverts(registry, device, stranger, function):
    with boa.reverts(f"{function}: caller is not the owner or its operator"):
        _call(registry, function, device, stranger)


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        ("rotate_key", "rotate_key: device is revoked"),
        ("update_firmware", "update_firmware: device is revoked"),
        ("suspend", "suspend: device is not active"),
        ("resume", "resume: device is not suspended"),
        ("revoke", "revoke: device is already revoked"),
    ],
)
def test_revoked_device_is_final(registry, owner, device, function, reason):
    registry.revoke(device, sender=owner)
    with boa.reverts(reason):
        _call(registry, function, device, owner)


def test_suspend_twice_reverts(registry, owner, device):
    registry.suspend(device, sender=owner)
    with boa.reverts("suspend: device is not active"):
        registry.suspend(device, sender=owner)


def test_resume_active_device_reverts(registry, owner, device):
    with boa.reverts("resume: device is not suspended"):
        registry.resume(device, sender=owner)


def test_rotate_to_zero_key_reverts(registry, owner, device):
    with boa.reverts("rotate_key: key is the zero address"):
        registry.rotate_key(device, "0x" + "00" * 20, sender=owner)


def test_rotate_to_used_key_reverts(registry, owner, device):
    other = Account.from_key(b"\x12" * 32).address
    registry.register(other, owner, KIND, FIRMWARE, sender=owner)
    with boa.reverts("rotate_key: key already used"):
        registry.rotate_key(device, other, sender=owner)


def test_update_firmware_zero_hash_reverts(registry, owner, device):
    with boa.reverts("update_firmware: firmware hash is zero"):
        registry.update_firmware(device, b"\0" * 32, sender=owner)


# --- signatures on chain ----------------------------------------------------------------------


def test_reading_digest_matches_off_chain_definition(registry, chain_id, device):
    reading = _reading(device, location="52.52,13.40")
    expected = hash_typed(_domain(registry, chain_id), "Reading", READING_TYPES, reading)
    assert registry.reading_digest(_reading_tuple(reading)) == expected


def test_reading_digest_with_no_values_matches(registry, chain_id, device):
    reading = _reading(device, values=[])
    expected = hash_typed(_domain(registry, chain_id), "Reading", READING_TYPES, reading)
    assert registry.reading_digest(_reading_tuple(reading)) == expected


def test_action_digest_matches_off_chain_definition(registry, chain_id, device):
    action = _action(device)
    expected = hash_typed(_domain(registry, chain_id), "Action", ACTION_TYPES, action)
    assert registry.action_digest(_action_tuple(action)) == expected


def test_verify_reading_accepts_the_devices_signature(registry, chain_id, device, device_key):
    reading = _reading(device)
    signature = sign_typed(
        device_key, _domain(registry, chain_id), "Reading", READING_TYPES, reading
    )
    assert registry.verify_reading(_reading_tuple(reading), signature)


def test_verify_action_accepts_the_devices_signature(registry, chain_id, device, device_key):
    action = _action(device)
    signature = sign_typed(device_key, _domain(registry, chain_id), "Action", ACTION_TYPES, action)
    assert registry.verify_action(_action_tuple(action), signature)


def test_verify_reading_rejects_another_keys_signature(registry, chain_id, device, mallory):
    reading = _reading(device)
    signature = sign_typed(mallory, _domain(registry, chain_id), "Reading", READING_TYPES, reading)
    assert not registry.verify_reading(_reading_tuple(reading), signature)


def test_verify_reading_rejects_altered_values(registry, chain_id, device, device_key):
    reading = _reading(device)
    signature = sign_typed(
        device_key, _domain(registry, chain_id), "Reading", READING_TYPES, reading
    )
    reading["values"][0]["value"] += 1
    assert not registry.verify_reading(_reading_tuple(reading), signature)


def test_verify_reading_rejects_retired_key(registry, chain_id, owner, device, device_key):
    reading = _reading(device)
    signature = sign_typed(
        device_key, _domain(registry, chain_id), "Reading", READING_TYPES, reading
    )
    registry.rotate_key(device, Account.from_key(b"\x13" * 32).address, sender=owner)
    assert not registry.verify_reading(_reading_tuple(reading), signature)


@pytest.mark.parametrize("change", ["suspend", "revoke"])
def test_verify_reading_rejects_inactive_device(
    registry, chain_id, owner, device, device_key, change
):
    reading = _reading(device)
    signature = sign_typed(
        device_key, _domain(registry, chain_id), "Reading", READING_TYPES, reading
    )
    getattr(registry, change)(device, sender=owner)
    assert not registry.verify_reading(_reading_tuple(reading), signature)


def test_verify_reading_of_unknown_device_reverts(registry, chain_id, stranger, device_key):
    reading = _reading(stranger)
    signature = sign_typed(
        device_key, _domain(registry, chain_id), "Reading", READING_TYPES, reading
    )
    with boa.reverts("verify_reading: unknown device"):
        registry.verify_reading(_reading_tuple(reading), signature)


def test_verify_action_of_unknown_device_reverts(registry, chain_id, stranger, device_key):
    action = _action(stranger)
    signature = sign_typed(device_key, _domain(registry, chain_id), "Action", ACTION_TYPES, action)
    with boa.reverts("verify_action: unknown device"):
        registry.verify_action(_action_tuple(action), signature)


def test_verify_reading_rejects_high_s_signature(registry, chain_id, device, device_key):
    reading = _reading(device)
    signature = sign_typed(
        device_key, _domain(registry, chain_id), "Reading", READING_TYPES, reading
    )
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    malleable = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    with boa.reverts("ecdsa: invalid signature `s` value"):
        registry.verify_reading(_reading_tuple(reading), malleable)
