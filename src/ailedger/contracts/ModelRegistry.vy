# pragma version ~=0.4.3
"""
@title AILedger ModelRegistry
@license Apache-2.0
@notice Published AI models offered as paid services. An entry names its
        owner (who is paid and signs call receipts), the SHA-256 hash of
        the serialised model and of its model card, the price of one call
        in ALT (18 decimals) and the endpoint URL where it is served.
        Each entry is bound, by its owner at registration and for good, to
        the transparency log where every call of the service is recorded:
        its log id in the one AnchorRegistry this registry names
        (`anchor_registry`, fixed at deployment). A call proof counts only
        from that log of that AnchorRegistry, so a service cannot keep some
        calls in a private log (or a private AnchorRegistry).
        Only the owner changes an entry: price, endpoint, or deprecation,
        which is final. Ids mix in the owner, so nobody can take another's
        id: model_id = keccak256(abi_encode(owner, name)).
        `PaymentChannels` reads `model_owner` and `is_active` when a
        channel is opened or topped up.
"""


struct Model:
    model_id: bytes32
    owner: address
    name: bytes32
    model_hash: bytes32
    card_hash: bytes32
    price: uint256
    endpoint: String[256]
    log_id: bytes32
    deprecated: bool
    registered_at: uint256


event ModelRegistered:
    model_id: indexed(bytes32)
    owner: indexed(address)
    name: bytes32
    model_hash: bytes32
    card_hash: bytes32
    price: uint256
    endpoint: String[256]
    log_id: bytes32

event PriceUpdated:
    model_id: indexed(bytes32)
    previous_price: uint256
    new_price: uint256

event EndpointUpdated:
    model_id: indexed(bytes32)
    endpoint: String[256]

event ModelDeprecated:
    model_id: indexed(bytes32)


anchor_registry: public(immutable(address))

_models: HashMap[bytes32, Model]
_ids: DynArray[bytes32, max_value(uint64)]


@deploy
@payable
def __init__(anchor_registry_: address):
    """
    @dev `payable` only to omit the callvalue check.
    @param anchor_registry_ The AnchorRegistry whose log ids entries name.
    """
    assert anchor_registry_ != empty(address), "init: anchor registry is the zero address"
    anchor_registry = anchor_registry_


@external
@pure
def compute_model_id(owner: address, name: bytes32) -> bytes32:
    """
    @dev The id `register(name, ...)` gives when called by `owner`.
    """
    return self._model_id(owner, name)


@external
def register(
    name: bytes32,
    model_hash: bytes32,
    card_hash: bytes32,
    price: uint256,
    endpoint: String[256],
    log_id: bytes32,
) -> bytes32:
    """
    @dev Registers the caller's model `name`; the caller becomes its owner.
    @param name The 32-byte name, unique per owner (UTF-8, zero-padded).
    @param model_hash SHA-256 of the serialised model (not zero).
    @param card_hash SHA-256 of the model card (not zero).
    @param price ALT (in wei) per call, above zero.
    @param endpoint The URL the service answers on (not empty).
    @param log_id The id, in `anchor_registry`, of the log the service
           records every call in (not zero); fixed for good.
    @return bytes32 The model id.
    """
    assert name != empty(bytes32), "register: name is empty"
    assert model_hash != empty(bytes32), "register: model hash is zero"
    assert card_hash != empty(bytes32), "register: card hash is zero"
    assert price > 0, "register: price must be above zero"
    assert len(endpoint) > 0, "register: endpoint is empty"
    assert log_id != empty(bytes32), "register: log id is zero"
    model_id: bytes32 = self._model_id(msg.sender, name)
    assert self._models[model_id].owner == empty(address), "register: model already registered"
    self._models[model_id] = Model(
        model_id=model_id,
        owner=msg.sender,
        name=name,
        model_hash=model_hash,
        card_hash=card_hash,
        price=price,
        endpoint=endpoint,
        log_id=log_id,
        deprecated=False,
        registered_at=block.timestamp,
    )
    self._ids.append(model_id)
    log ModelRegistered(
        model_id=model_id,
        owner=msg.sender,
        name=name,
        model_hash=model_hash,
        card_hash=card_hash,
        price=price,
        endpoint=endpoint,
        log_id=log_id,
    )
    return model_id


@external
def update_price(model_id: bytes32, new_price: uint256):
    """
    @dev Sets the price per call; owner only, while not deprecated.
         Vouchers already accepted at the old price stay valid.
    """
    self._check_owner(model_id, "update_price")
    assert new_price > 0, "update_price: price must be above zero"
    previous: uint256 = self._models[model_id].price
    self._models[model_id].price = new_price
    log PriceUpdated(model_id=model_id, previous_price=previous, new_price=new_price)


@external
def update_endpoint(model_id: bytes32, endpoint: String[256]):
    """
    @dev Moves the service to `endpoint`; owner only, while not deprecated.
    """
    self._check_owner(model_id, "update_endpoint")
    assert len(endpoint) > 0, "update_endpoint: endpoint is empty"
    self._models[model_id].endpoint = endpoint
    log EndpointUpdated(model_id=model_id, endpoint=endpoint)


@external
def deprecate(model_id: bytes32):
    """
    @dev Retires the model for good: no channel can be opened or topped
         up for it. Open channels can still be claimed and reclaimed.
    """
    self._check_owner(model_id, "deprecate")
    self._models[model_id].deprecated = True
    log ModelDeprecated(model_id=model_id)


@external
@view
def get_model(model_id: bytes32) -> Model:
    """
    @dev The entry of `model_id`; reverts for an unknown id.
    """
    assert self._models[model_id].owner != empty(address), "get_model: unknown model"
    return self._models[model_id]


@external
@view
def model_owner(model_id: bytes32) -> address:
    """
    @dev The owner of `model_id` (zero address if unknown).
    """
    return self._models[model_id].owner


@external
@view
def log_of(model_id: bytes32) -> bytes32:
    """
    @dev The log id `model_id`'s calls are recorded in (zero if unknown).
    """
    return self._models[model_id].log_id


@external
@view
def price_of(model_id: bytes32) -> uint256:
    """
    @dev The price per call of `model_id` (zero if unknown).
    """
    return self._models[model_id].price


@external
@view
def is_active(model_id: bytes32) -> bool:
    """
    @dev True for a registered model that is not deprecated.
    """
    return self._models[model_id].owner != empty(address) and not self._models[model_id].deprecated


@external
@view
def model_count() -> uint256:
    """
    @dev How many models were ever registered (deprecated ones included).
    """
    return len(self._ids)


@external
@view
def model_id_at(index: uint256) -> bytes32:
    """
    @dev The id of the `index`-th registered model (0 = first).
    """
    assert index < len(self._ids), "model_id_at: index out of range"
    return self._ids[index]


@internal
@pure
def _model_id(owner: address, name: bytes32) -> bytes32:
    return keccak256(abi_encode(owner, name))


@internal
@view
def _check_owner(model_id: bytes32, action: String[16]):
    owner: address = self._models[model_id].owner
    assert owner != empty(address), concat(action, ": unknown model")
    assert msg.sender == owner, concat(action, ": caller is not the model owner")
    assert not self._models[model_id].deprecated, concat(action, ": model is deprecated")
