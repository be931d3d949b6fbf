"""MQTT topic names: one topic per device, and the shared subscription ingesters use.

A device publishes on ``ailedger/iot/devices/<address>`` (checksum address).
Ingesters of one group subscribe to ``$share/<group>/ailedger/iot/devices/+``
(MQTT 5 shared subscription): the broker hands each message to one of them.
"""

from __future__ import annotations

from eth_utils import to_checksum_address

from ailedger.errors import InvalidInputError
from ailedger.iot.messages import checksum_address

__all__ = ["TOPIC_PREFIX", "device_of_topic", "device_topic", "shared_subscription"]

TOPIC_PREFIX = "ailedger/iot/devices/"


def device_topic(device: str) -> str:
    """The topic ``device`` publishes on."""
    return TOPIC_PREFIX + to_checksum_address(device)


def device_of_topic(topic: str) -> str | None:
    """The device a topic belongs to, or None when it is not a device topic."""
    if not topic.startswith(TOPIC_PREFIX):
        return None
    return checksum_address(topic[len(TOPIC_PREFIX) :])


def shared_subscription(group: str) -> str:
    """The MQTT 5 shared subscription of ingester group ``group``."""
    if not group or any(char in group for char in "/+#$"):
        raise InvalidInputError(
            f"group: expected a name without / + # $, got {group!r}", field="group"
        )
    return f"$share/{group}/{TOPIC_PREFIX}+"
