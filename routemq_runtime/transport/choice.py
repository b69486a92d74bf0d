"""Which MQTT client a worker slot uses (``MQTT_TRANSPORT``): RouteMQ's own asyncio client or
paho-mqtt. Both offer the same interface (:class:`~routemq_runtime.transport.MqttTransport`'s)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routemq_runtime.config import Config


def slot_transport(config: Config) -> type[Any]:
    """The transport class for ``config.mqtt_transport``."""
    if config.mqtt_transport == "paho":
        from routemq_runtime.transport.client import MqttTransport  # only the chosen one loads

        return MqttTransport
    from routemq_runtime.transport.native.client import NativeTransport  # only the chosen one

    return NativeTransport
