"""ModelRegistry: models published as paid services; only owners change their entries."""

from __future__ import annotations

import json

import boa
import pytest
from eth.exceptions import Revert
from eth_abi import encode
from eth_utils import keccak

from ailedger import contracts
from ailedger.core.chain import decode_revert_reason

ZERO = "0x0000000000000000000000000000000000000000"
NAME = b"diagnosis".ljust(32, b"\0")
MODEL_HASH = keccak(b"model bytes")
CARD_HASH = keccak(b"model card")
PRICE = 10**16
ENDPOINT = "http://127.0.0.1:8100"
LOG_ID = keccak(b"calls log")


ANCHORS = "0x" + "a7" * 20  # the AnchorRegistry the log ids are of (only stored here)


def _deploy_registry(anchors: str, deployer: str):
    artifact = contracts.load("ModelRegistry")
    code = artifact.bytecode + encode(["address"], [anchors])
    address, _ = boa.env.deploy_code(bytecode=code, sender=deployer)
    return boa.loads_abi(json.dumps(artifact.abi), name="ModelRegistry").at(address)


@pytest.fixture
def registry(deployer):
    return _deploy_registry(ANCHORS, deployer)


def test_registry_names_its_anchor_registry(registry):
    assert registry.anchor_registry().lower() == ANCHORS


def test_deploying_without_an_anchor_registry_reverts(deployer):
    # deploy_code raises py-evm's Revert carrying the ABI-encoded Error(string).
    with pytest.raises(Revert) as raised:
        _deploy_registry(ZERO, deployer)
    assert decode_revert_reason(raised.value.args[0]) == "init: anchor registry is the zero address"


@pytest.fixture
def owner() -> str:
    return boa.env.generate_address("owner")


@pytest.fixture
def model_id(registry, owner) -> bytes:
    return registry.register(NAME, MODEL_HASH, CARD_HASH, PRICE, ENDPOINT, LOG_ID, sender=owner)


def _event(contract):
    # get_logs() reads the most recent call: read it before any view call.
    (event,) = contract.get_logs()
    return type(event).__name__, event


# --- registration -----------------------------------------------------------------------------


def test_model_id_is_hash_of_owner_and_name(registry, owner, model_id):
    assert model_id == keccak(encode(["address", "bytes32"], [owner, NAME]))
    assert registry.compute_model_id(owner, NAME) == model_id


def test_register_stores_every_field(registry, owner, model_id):
    model = registry.get_model(model_id)
    assert model.model_id == model_id
    assert model.owner == owner
    assert (model.name, model.model_hash, model.card_hash) == (NAME, MODEL_HASH, CARD_HASH)
    assert (model.price, model.endpoint, model.deprecated) == (PRICE, ENDPOINT, False)
    assert model.registered_at == boa.env.evm.patch.timestamp
    assert model.log_id == LOG_ID == registry.log_of(model_id)


def test_register_emits_model_registered(registry, owner):
    model_id = registry.register(NAME, MODEL_HASH, CARD_HASH, PRICE, ENDPOINT, LOG_ID, sender=owner)
    name, event = _event(registry)
    assert name == "ModelRegistered"
    assert (event.model_id, event.owner, event.price, event.endpoint) == (
        model_id,
        owner,
        PRICE,
        ENDPOINT,
    )
    assert (event.name, event.model_hash, event.card_hash) == (NAME, MODEL_HASH, CARD_HASH)
    assert event.log_id == LOG_ID


def test_registered_models_are_enumerable(registry, owner, model_id):
    other = registry.register(
        b"credit".ljust(32, b"\0"), MODEL_HASH, CARD_HASH, PRICE, ENDPOINT, LOG_ID, sender=owner
    )
    assert registry.model_count() == 2
    assert [registry.model_id_at(0), registry.model_id_at(1)] == [model_id, other]


def test_model_id_at_out_of_range_reverts(registry, model_id):
    with boa.reverts("model_id_at: index out of range"):
        registry.model_id_at(1)


def test_same_name_by_another_owner_is_another_model(registry, model_id):
    other = registry.register(
        NAME, MODEL_HASH, CARD_HASH, PRICE, ENDPOINT, LOG_ID, sender=boa.env.generate_address("x")
    )
    assert other != model_id
    assert registry.model_count() == 2


def test_registering_the_same_name_twice_reverts(registry, owner, model_id):
    with boa.reverts("register: model already registered"):
        registry.register(NAME, MODEL_HASH, CARD_HASH, 1, ENDPOINT, LOG_ID, sender=owner)
    assert registry.price_of(model_id) == PRICE


@pytest.mark.parametrize(
    ("field", "args", "reason"),
    [
        (
            "name",
            (b"\0" * 32, MODEL_HASH, CARD_HASH, PRICE, ENDPOINT, LOG_ID),
            "register: name is empty",
        ),
        (
            "model_hash",
            (NAME, b"\0" * 32, CARD_HASH, PRICE, ENDPOINT, LOG_ID),
            "register: model hash is zero",
        ),
        (
            "card_hash",
            (NAME, MODEL_HASH, b"\0" * 32, PRICE, ENDPOINT, LOG_ID),
            "register: card hash is zero",
        ),
        (
            "price",
            (NAME, MODEL_HASH, CARD_HASH, 0, ENDPOINT, LOG_ID),
            "register: price must be above zero",
        ),
        (
            "endpoint",
            (NAME, MODEL_HASH, CARD_HASH, PRICE, "", LOG_ID),
            "register: endpoint is empty",
        ),
        (
            "log_id",
            (NAME, MODEL_HASH, CARD_HASH, PRICE, ENDPOINT, b"\0" * 32),
            "register: log id is zero",
        ),
    ],
)
def test_register_rejects_empty_fields(registry, owner, field, args, reason):
    with boa.reverts(reason):
        registry.register(*args, sender=owner)
    assert registry.model_count() == 0


def test_unknown_model_reads_as_empty(registry):
    unknown = keccak(b"unknown")
    assert registry.model_owner(unknown) == ZERO
    assert registry.price_of(unknown) == 0
    assert registry.log_of(unknown) == b"\0" * 32
    assert not registry.is_active(unknown)


def test_get_model_of_unknown_id_reverts(registry):
    with boa.reverts("get_model: unknown model"):
        registry.get_model(keccak(b"unknown"))


# --- price and endpoint -----------------------------------------------------------------------


def test_owner_updates_price_with_event(registry, owner, model_id):
    registry.update_price(model_id, 2 * PRICE, sender=owner)
    name, event = _event(registry)
    assert (name, event.model_id, event.previous_price, event.new_price) == (
        "PriceUpdated",
        model_id,
        PRICE,
        2 * PRICE,
    )
    assert registry.price_of(model_id) == 2 * PRICE


def test_update_price_by_another_account_reverts(registry, model_id):
    with boa.reverts("update_price: caller is not the model owner"):
        registry.update_price(model_id, 1, sender=boa.env.generate_address("mallory"))
    assert registry.price_of(model_id) == PRICE


def test_update_price_to_zero_reverts(registry, owner, model_id):
    with boa.reverts("update_price: price must be above zero"):
        registry.update_price(model_id, 0, sender=owner)


def test_update_price_of_unknown_model_reverts(registry, owner):
    with boa.reverts("update_price: unknown model"):
        registry.update_price(keccak(b"unknown"), 1, sender=owner)


def test_owner_updates_endpoint_with_event(registry, owner, model_id):
    registry.update_endpoint(model_id, "https://models.example/diagnosis", sender=owner)
    name, event = _event(registry)
    assert (name, event.endpoint) == ("EndpointUpdated", "https://models.example/diagnosis")
    assert registry.get_model(model_id).endpoint == "https://models.example/diagnosis"


def test_update_endpoint_by_another_account_reverts(registry, model_id):
    with boa.reverts("update_endpoint: caller is not the model owner"):
        registry.update_endpoint(model_id, "http://evil", sender=boa.env.generate_address("m"))
    assert registry.get_model(model_id).endpoint == ENDPOINT


def test_update_endpoint_to_empty_reverts(registry, owner, model_id):
    with boa.reverts("update_endpoint: endpoint is empty"):
        registry.update_endpoint(model_id, "", sender=owner)


# --- deprecation ------------------------------------------------------------------------------


def test_owner_deprecates_with_event(registry, owner, model_id):
    registry.deprecate(model_id, sender=owner)
    name, event = _event(registry)
    assert (name, event.model_id) == ("ModelDeprecated", model_id)
    assert registry.get_model(model_id).deprecated
    assert not registry.is_active(model_id)


def test_deprecate_by_another_account_reverts(registry, model_id):
    with boa.reverts("deprecate: caller is not the model owner"):
        registry.deprecate(model_id, sender=boa.env.generate_address("mallory"))
    assert registry.is_active(model_id)


def test_deprecated_model_cannot_change_price(registry, owner, model_id):
    registry.deprecate(model_id, sender=owner)
    with boa.reverts("update_price: model is deprecated"):
        registry.update_price(model_id, 1, sender=owner)


def test_deprecation_is_final(registry, owner, model_id):
    registry.deprecate(model_id, sender=owner)
    with boa.reverts("deprecate: model is deprecated"):
        registry.deprecate(model_id, sender=owner)
    with boa.reverts("update_endpoint: model is deprecated"):
        registry.update_endpoint(model_id, "http://new", sender=owner)
