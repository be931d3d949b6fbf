"""The EIP-712 shapes the contracts verify, defined once for off-chain signers.

A tree head or a permit signed with these domains and types (through
:func:`ailedger.core.identity.sign_typed`) is exactly what ``AnchorRegistry.anchor``
and ``ALTToken.permit`` recover on chain.
"""

from __future__ import annotations

from ailedger.core.identity import Domain, TypeFields

__all__ = [
    "ACTION_TYPES",
    "ALT_TOKEN_DOMAIN_NAME",
    "ANCHOR_REGISTRY_DOMAIN_NAME",
    "DATA_MARKET_DOMAIN_NAME",
    "DELIVERY_TYPES",
    "DEVICE_REGISTRY_DOMAIN_NAME",
    "PAYMENT_CHANNELS_DOMAIN_NAME",
    "PERMIT_TYPES",
    "READING_TYPES",
    "TREE_HEAD_TYPES",
    "VOUCHER_TYPES",
    "alt_token_domain",
    "anchor_registry_domain",
    "data_market_domain",
    "device_registry_domain",
    "payment_channels_domain",
]

ANCHOR_REGISTRY_DOMAIN_NAME = "AILedger AnchorRegistry"
ALT_TOKEN_DOMAIN_NAME = "AILedger Token"
PAYMENT_CHANNELS_DOMAIN_NAME = "AILedger PaymentChannels"
DATA_MARKET_DOMAIN_NAME = "AILedger DataMarket"
_VERSION = "1"

# Field names and order must match TREE_HEAD_TYPEHASH in AnchorRegistry.vy.
TREE_HEAD_TYPES: TypeFields = {
    "TreeHead": [
        {"name": "logId", "type": "bytes32"},
        {"name": "treeSize", "type": "uint256"},
        {"name": "rootHash", "type": "bytes32"},
        {"name": "timestamp", "type": "uint64"},
        {"name": "keyEpoch", "type": "uint64"},
    ]
}

# EIP-2612, as snekmate's erc20 hashes it.
PERMIT_TYPES: TypeFields = {
    "Permit": [
        {"name": "owner", "type": "address"},
        {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


# Field names and order must match VOUCHER_TYPEHASH in PaymentChannels.vy; `amount` is the
# cumulative amount owed on the channel, not the price of one call.
VOUCHER_TYPES: TypeFields = {
    "Voucher": [
        {"name": "channelId", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "amount", "type": "uint256"},
    ]
}


def anchor_registry_domain(chain_id: int, registry_address: str) -> Domain:
    """The domain of tree-head signatures for the AnchorRegistry at ``registry_address``."""
    return Domain(ANCHOR_REGISTRY_DOMAIN_NAME, _VERSION, chain_id, registry_address)


def alt_token_domain(chain_id: int, token_address: str) -> Domain:
    """The domain of EIP-2612 permits for the ALTToken at ``token_address``."""
    return Domain(ALT_TOKEN_DOMAIN_NAME, _VERSION, chain_id, token_address)


def payment_channels_domain(chain_id: int, channels_address: str) -> Domain:
    """The domain of channel vouchers for the PaymentChannels at ``channels_address``."""
    return Domain(PAYMENT_CHANNELS_DOMAIN_NAME, _VERSION, chain_id, channels_address)


# Field names and order must match DELIVERY_TYPEHASH in DataMarket.vy. The buyer signs it
# once the delivered key opened the dataset (or the job's model arrived); the seller submits
# it to release the escrow.
DELIVERY_TYPES: TypeFields = {
    "Delivery": [
        {"name": "purchaseId", "type": "uint256"},
        {"name": "deliveryHash", "type": "bytes32"},
    ]
}


def data_market_domain(chain_id: int, market_address: str) -> Domain:
    """The domain of delivery acknowledgements for the DataMarket at ``market_address``."""
    return Domain(DATA_MARKET_DOMAIN_NAME, _VERSION, chain_id, market_address)


DEVICE_REGISTRY_DOMAIN_NAME = "AILedger DeviceRegistry"

# Field names and order must match MEASUREMENT_TYPEHASH, READING_TYPEHASH and ACTION_TYPEHASH
# in DeviceRegistry.vy. A measurement's value is fixed point with three decimals; readings and
# actions of one device share one growing sequence; location "" means none.
READING_TYPES: TypeFields = {
    "Reading": [
        {"name": "device", "type": "address"},
        {"name": "seq", "type": "uint64"},
        {"name": "timestamp", "type": "uint64"},
        {"name": "values", "type": "Measurement[]"},
        {"name": "location", "type": "string"},
    ],
    "Measurement": [
        {"name": "name", "type": "string"},
        {"name": "value", "type": "int256"},
        {"name": "unit", "type": "string"},
    ],
}

ACTION_TYPES: TypeFields = {
    "Action": [
        {"name": "device", "type": "address"},
        {"name": "seq", "type": "uint64"},
        {"name": "timestamp", "type": "uint64"},
        {"name": "kind", "type": "string"},
        {"name": "modelId", "type": "bytes32"},
        {"name": "triggerSeq", "type": "uint64"},
    ]
}


def device_registry_domain(chain_id: int, registry_address: str) -> Domain:
    """The domain of device readings and actions for the DeviceRegistry at ``registry_address``."""
    return Domain(DEVICE_REGISTRY_DOMAIN_NAME, _VERSION, chain_id, registry_address)
