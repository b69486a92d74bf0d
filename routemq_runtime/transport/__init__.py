"""MQTT transport: paho-mqtt driven from an asyncio loop (subscribe, receive, ack, publish)."""

from routemq_runtime.transport.backoff import backoff_delay
from routemq_runtime.transport.client import (
    MqttTransport,
    Subscription,
    TransportError,
    protocol_of,
)

__all__ = ["MqttTransport", "Subscription", "TransportError", "backoff_delay", "protocol_of"]
