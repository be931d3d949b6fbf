"""MQTT topic names: one topic per device, scoped by its fleet, and the shared subscription
ingesters use.

A fleet is one DeviceRegistry (its address is also the EIP-712 verifying contract every
device signs under). A device publishes on ``ailedger/iot/<registry>/devices/<address>``
(checksum addresses); ingesters of one group subscribe to
``$share/<group>/ailedger/iot/<registry>/devices/+`` (MQTT 5 shared subscription): the
broker hands each message to one of them. Scoping by registry keeps fleets (and separate
deployments) that share a broker from ever receiving each other's traffic, and gives a
broker ACL one prefix per fleet.
"""

from __future__ import annotations

from eth_utils import to_checksum_address

from ailedger.errors import InvalidInputError
from ailedger.iot.messages import checksum_address

__all__ = ["device_of_topic", "device_topic", "fleet_prefix", "shared_subscription"]


def fleet_prefix(registry: str) -> str:
    """The topic prefix of the fleet registered in ``registry``."""
    return f"ailedger/iot/{to_checksum_address(registry)}/devices/"


def device_topic(registry: str, device: str) -> str:
    """The topic ``device`` of the fleet in ``registry`` publishes on."""
    return fleet_prefix(registry) + to_checksum_address(device)


def device_of_topic(registry: str, topic: str) -> str | None:
    """The device a topic belongs to, or None when it is not a device topic of the fleet."""
    prefix = fleet_prefix(registry)
    if not topic.startswith(prefix):
        return None
    return checksum_address(topic[len(prefix) :])


def shared_subscription(group: str, registry: str) -> str:
    """The MQTT 5 shared subscription of ingester group ``group`` of the fleet in ``registry``."""
    if not group or any(char in group for char in "/+#$"):
        raise InvalidInputError(
            f"group: expected a name without / + # $, got {group!r}", field="group"
        )
    return f"$share/{group}/{fleet_prefix(registry)}+"
