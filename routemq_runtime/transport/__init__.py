"""MQTT transport: paho-mqtt driven from an asyncio loop (subscribe, receive, ack, publish)."""

from routemq_runtime.transport.backoff import backoff_delay
from routemq_runtime.transport.client import MqttTransport
from routemq_runtime.transport.connection import Subscription, TransportError
from routemq_runtime.transport.paho_client import protocol_of

__all__ = ["MqttTransport", "Subscription", "TransportError", "backoff_delay", "protocol_of"]
