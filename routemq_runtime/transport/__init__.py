"""MQTT transport of worker slots (subscribe, receive, ack, publish): RouteMQ's own asyncio client
or paho-mqtt driven from the asyncio loop."""

from routemq_runtime.transport.backoff import backoff_delay
from routemq_runtime.transport.choice import slot_transport
from routemq_runtime.transport.client import MqttTransport
from routemq_runtime.transport.connection import Subscription, TransportError
from routemq_runtime.transport.paho_client import protocol_of

__all__ = [
    "MqttTransport",
    "Subscription",
    "TransportError",
    "backoff_delay",
    "protocol_of",
    "slot_transport",
]
