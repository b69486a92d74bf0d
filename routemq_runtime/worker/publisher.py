"""The ``client`` handed to handlers: publish from async or sync (thread-pool) handlers alike."""

from __future__ import annotations

from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from routemq_runtime.message import encode_payload
from routemq_runtime.transport import MqttTransport


def reply_properties(correlation_data: bytes | None) -> Properties | None:
    """PUBLISH properties of an MQTT 5 reply: the request's Correlation Data, when it had one."""
    if correlation_data is None:
        return None
    properties = Properties(PacketTypes.PUBLISH)
    properties.CorrelationData = correlation_data
    return properties


class SlotPublisher:
    """``publish(topic, payload, qos, retain, properties)``: dict/list payloads go out as JSON,
    str as UTF-8, bytes as is. Safe from any thread (off the loop it is queued to the loop)."""

    __slots__ = ("_transport",)

    def __init__(self, transport: MqttTransport) -> None:
        self._transport = transport

    def publish(
        self,
        topic: str,
        payload: Any = None,
        qos: int = 0,
        retain: bool = False,
        properties: Any = None,
    ) -> Any:
        return self._transport.publish(topic, encode_payload(payload), qos, retain, properties)
