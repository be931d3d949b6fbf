# pragma version ~=0.4.3
"""
@title AILedger DeviceRegistry
@license Apache-2.0
@notice IoT devices and the keys they sign readings with. A device is
        known by the address of the key it was registered with (its id);
        its entry names its owner, its kind (e.g. "cold-room") and the
        SHA-256 of its firmware. The owner, or a fleet operator the owner
        granted, registers devices for that owner, rotates a device's key,
        updates its firmware hash, suspends and resumes it, and revokes it
        for good. A key is used by at most one device, ever, so a reading
        signed by a retired key never passes as another device's.
        Every change emits an event, so off-chain caches follow the log
        instead of polling.
        `verify_reading` and `verify_action` check a device's EIP-712
        signature on chain (low-s only, as snekmate's ecdsa requires), so a
        disputed reading can be settled by a contract. Signed structs, under
        the domain ("AILedger DeviceRegistry", "1", chainId, this contract):
        Reading(address device,uint64 seq,uint64 timestamp,Measurement[] values,string location)
        Action(address device,uint64 seq,uint64 timestamp,string kind,bytes32 modelId,uint64 triggerSeq)
        Measurement(string name,int256 value,string unit)
        A measurement's value is fixed point with three decimals
        (4250 = 4.25). Readings and actions of one device share one
        sequence that only grows.
        snekmate's `ownable` / `access_control` hold one owner or roles for
        the whole contract; here every device has its own owner and every
        owner its own operators, so that part is written out below.
"""

from snekmate.utils.interfaces import IERC5267
implements: IERC5267

from snekmate.utils import ecdsa

from snekmate.utils import eip712_domain_separator as eip712
initializes: eip712

exports: eip712.eip712Domain


MAX_VALUES: constant(uint256) = 8

struct Measurement:
    name: String[32]
    value: int256
    unit: String[16]

struct Reading:
    device: address
    seq: uint64
    timestamp: uint64
    values: DynArray[Measurement, MAX_VALUES]
    location: String[64]

struct Action:
    device: address
    seq: uint64
    timestamp: uint64
    kind: String[32]
    model_id: bytes32
    trigger_seq: uint64

struct Device:
    key: address
    owner: address
    kind: bytes32
    firmware_hash: bytes32
    status: uint8
    registered_at: uint256


# Device status; zero means never registered.
STATUS_ACTIVE: public(constant(uint8)) = 1
STATUS_SUSPENDED: public(constant(uint8)) = 2
STATUS_REVOKED: public(constant(uint8)) = 3


event DeviceRegistered:
    device: indexed(address)
    owner: indexed(address)
    kind: bytes32
    firmware_hash: bytes32
    by: address

event KeyRotated:
    device: indexed(address)
    previous_key: address
    new_key: address
    by: address

event FirmwareUpdated:
    device: indexed(address)
    firmware_hash: bytes32
    by: address

event DeviceSuspended:
    device: indexed(address)
    by: address

event DeviceResumed:
    device: indexed(address)
    by: address

event DeviceRevoked:
    device: indexed(address)
    by: address

event OperatorGranted:
    owner: indexed(address)
    operator: indexed(address)

event OperatorRevoked:
    owner: indexed(address)
    operator: indexed(address)


MEASUREMENT_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Measurement(string name,int256 value,string unit)"
)
# EIP-712 appends referenced struct types, sorted by name, to the primary type.
READING_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Reading(address device,uint64 seq,uint64 timestamp,Measurement[] values,string location)"
    "Measurement(string name,int256 value,string unit)"
)
ACTION_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Action(address device,uint64 seq,uint64 timestamp,string kind,bytes32 modelId,uint64 triggerSeq)"
)

_devices: HashMap[address, Device]
# Every key ever used -> the device it belongs (or belonged) to.
_key_device: HashMap[address, address]
_operators: HashMap[address, HashMap[address, bool]]
_device_count: uint256


@deploy
@payable
def __init__():
    """
    @dev `payable` only to omit the callvalue check.
    """
    eip712.__init__("AILedger DeviceRegistry", "1")


@external
def grant_operator(operator: address):
    """
    @dev Lets `operator` manage the caller's devices (register, rotate,
         suspend, resume, revoke, update firmware).
    """
    assert operator != empty(address), "grant_operator: operator is the zero address"
    assert operator != msg.sender, "grant_operator: owner cannot be its own operator"
    assert not self._operators[msg.sender][operator], "grant_operator: already an operator"
    self._operators[msg.sender][operator] = True
    log OperatorGranted(owner=msg.sender, operator=operator)


@external
def revoke_operator(operator: address):
    """
    @dev Withdraws `operator`'s right to manage the caller's devices.
    """
    assert self._operators[msg.sender][operator], "revoke_operator: not an operator"
    self._operators[msg.sender][operator] = False
    log OperatorRevoked(owner=msg.sender, operator=operator)


@external
def register(device: address, owner: address, kind: bytes32, firmware_hash: bytes32):
    """
    @dev Registers `device` (the address of its key) for `owner`; the
         caller is the owner or one of the owner's operators.
    """
    assert device != empty(address), "register: device is the zero address"
    assert owner != empty(address), "register: owner is the zero address"
    assert kind != empty(bytes32), "register: kind is empty"
    assert firmware_hash != empty(bytes32), "register: firmware hash is zero"
    assert self._may_manage(owner, msg.sender), "register: caller is not the owner or its operator"
    assert self._key_device[device] == empty(address), "register: key already used"
    self._key_device[device] = device
    self._devices[device] = Device(
        key=device,
        owner=owner,
        kind=kind,
        firmware_hash=firmware_hash,
        status=STATUS_ACTIVE,
        registered_at=block.timestamp,
    )
    self._device_count += 1
    log DeviceRegistered(
        device=device, owner=owner, kind=kind, firmware_hash=firmware_hash, by=msg.sender
    )


@external
def rotate_key(device: address, new_key: address):
    """
    @dev Makes `new_key` the key `device` signs with; the previous key is
         retired for good. Not for a revoked device.
    """
    self._check_manager(device, "rotate_key")
    assert self._devices[device].status != STATUS_REVOKED, "rotate_key: device is revoked"
    assert new_key != empty(address), "rotate_key: key is the zero address"
    assert self._key_device[new_key] == empty(address), "rotate_key: key already used"
    previous: address = self._devices[device].key
    self._key_device[new_key] = device
    self._devices[device].key = new_key
    log KeyRotated(device=device, previous_key=previous, new_key=new_key, by=msg.sender)


@external
def update_firmware(device: address, firmware_hash: bytes32):
    """
    @dev Records the SHA-256 of the firmware `device` now runs.
    """
    self._check_manager(device, "update_firmware")
    assert self._devices[device].status != STATUS_REVOKED, "update_firmware: device is revoked"
    assert firmware_hash != empty(bytes32), "update_firmware: firmware hash is zero"
    self._devices[device].firmware_hash = firmware_hash
    log FirmwareUpdated(device=device, firmware_hash=firmware_hash, by=msg.sender)


@external
def suspend(device: address):
    """
    @dev Stops accepting `device`'s readings until it is resumed.
    """
    self._check_manager(device, "suspend")
    assert self._devices[device].status == STATUS_ACTIVE, "suspend: device is not active"
    self._devices[device].status = STATUS_SUSPENDED
    log DeviceSuspended(device=device, by=msg.sender)


@external
def resume(device: address):
    """
    @dev Accepts a suspended `device`'s readings again.
    """
    self._check_manager(device, "resume")
    assert self._devices[device].status == STATUS_SUSPENDED, "resume: device is not suspended"
    self._devices[device].status = STATUS_ACTIVE
    log DeviceResumed(device=device, by=msg.sender)


@external
def revoke(device: address):
    """
    @dev Retires `device` for good: no reading of it is accepted again.
    """
    self._check_manager(device, "revoke")
    assert self._devices[device].status != STATUS_REVOKED, "revoke: device is already revoked"
    self._devices[device].status = STATUS_REVOKED
    log DeviceRevoked(device=device, by=msg.sender)


@external
@view
def get_device(device: address) -> Device:
    """
    @dev The entry of `device`; reverts for an unknown device.
    """
    assert self._devices[device].status != 0, "get_device: unknown device"
    return self._devices[device]


@external
@view
def is_active(device: address) -> bool:
    """
    @dev True for a registered device that is neither suspended nor revoked.
    """
    return self._devices[device].status == STATUS_ACTIVE


@external
@view
def is_operator(owner: address, operator: address) -> bool:
    """
    @dev Whether `owner` granted `operator` the management of its devices.
    """
    return self._operators[owner][operator]


@external
@view
def device_count() -> uint256:
    """
    @dev How many devices were ever registered (revoked ones included).
    """
    return self._device_count


@external
@view
def reading_digest(reading: Reading) -> bytes32:
    """
    @dev The EIP-712 digest a device signs for `reading`.
    """
    return eip712._hash_typed_data_v4(self._reading_hash(reading))


@external
@view
def action_digest(action: Action) -> bytes32:
    """
    @dev The EIP-712 digest a device signs for `action`.
    """
    return eip712._hash_typed_data_v4(self._action_hash(action))


@external
@view
def verify_reading(reading: Reading, signature: Bytes[65]) -> bool:
    """
    @dev True when `signature` over `reading` is by the current key of
         `reading.device` and the device is active. Reverts for an unknown
         device and for a malformed or high-s signature.
    """
    digest: bytes32 = eip712._hash_typed_data_v4(self._reading_hash(reading))
    return self._signed_by_active(reading.device, digest, signature, "verify_reading")


@external
@view
def verify_action(action: Action, signature: Bytes[65]) -> bool:
    """
    @dev As `verify_reading`, for an action the device took.
    """
    digest: bytes32 = eip712._hash_typed_data_v4(self._action_hash(action))
    return self._signed_by_active(action.device, digest, signature, "verify_action")


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @dev The EIP-712 domain separator of this registry.
    """
    return eip712._domain_separator_v4()


@internal
@view
def _signed_by_active(
    device: address, digest: bytes32, signature: Bytes[65], action: String[16]
) -> bool:
    status: uint8 = self._devices[device].status
    assert status != 0, concat(action, ": unknown device")
    signer: address = ecdsa._recover_sig(digest, signature)
    return status == STATUS_ACTIVE and signer == self._devices[device].key


@internal
@pure
def _reading_hash(reading: Reading) -> bytes32:
    hashes: DynArray[bytes32, MAX_VALUES] = []
    for measurement: Measurement in reading.values:
        hashes.append(
            keccak256(
                abi_encode(
                    MEASUREMENT_TYPEHASH,
                    keccak256(measurement.name),
                    measurement.value,
                    keccak256(measurement.unit),
                )
            )
        )
    # EIP-712 hashes an array as keccak256 of its elements' hashes, concatenated: that is
    # the ABI encoding of the array without its offset and length words.
    encoded: Bytes[320] = abi_encode(hashes)
    values_hash: bytes32 = keccak256(slice(encoded, 64, 32 * len(hashes)))
    return keccak256(
        abi_encode(
            READING_TYPEHASH,
            reading.device,
            reading.seq,
            reading.timestamp,
            values_hash,
            keccak256(reading.location),
        )
    )


@internal
@pure
def _action_hash(action: Action) -> bytes32:
    return keccak256(
        abi_encode(
            ACTION_TYPEHASH,
            action.device,
            action.seq,
            action.timestamp,
            keccak256(action.kind),
            action.model_id,
            action.trigger_seq,
        )
    )


@internal
@view
def _may_manage(owner: address, caller: address) -> bool:
    return caller == owner or self._operators[owner][caller]


@internal
@view
def _check_manager(device: address, action: String[16]):
    owner: address = self._devices[device].owner
    assert owner != empty(address), concat(action, ": unknown device")
    assert self._may_manage(owner, msg.sender), concat(
        action, ": caller is not the owner or its operator"
    )
