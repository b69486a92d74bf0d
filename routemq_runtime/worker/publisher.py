"""The ``client`` handed to handlers: publish from async or sync (thread-pool) handlers alike."""

from __future__ import annotations

from typing import Any

from routemq_runtime.message import encode_payload
from routemq_runtime.transport import MqttTransport


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
