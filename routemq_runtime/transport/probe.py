"""Does the broker deliver through ``$share/{group}/...``? Asked with a message of our own.

Some brokers accept ``SUBSCRIBE $share/g/f`` but treat it as a literal topic (aedes 1.x), so
every worker would look subscribed and receive nothing. The probe subscribes through the share
to a topic of its own, publishes a random token there and waits for it. The topic lives under
``ROUTEMQ_PRESENCE_PREFIX``; the caller makes sure no route of the app matches it, so no handler
ever sees the probe.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from routemq_runtime.transport.paho_client import new_client, with_connection

if TYPE_CHECKING:
    from routemq_runtime.config import Config


class SharedSubscriptionsMissing(RuntimeError):
    """The broker took the subscription but delivered nothing through it."""


def probe_topic(config: Config, instance: str) -> str:
    return f"{config.presence_prefix.rstrip('/')}/{instance}/probe"


def probe_shared_subscriptions(config: Config, group: str, topic: str, timeout: float) -> float:
    """Round trip of a token through ``$share/{group}/{topic}``; returns its seconds.

    Raises :class:`SharedSubscriptionsMissing` when the subscription is refused or nothing
    arrives within ``timeout``; ``OSError``/``BrokerRefused``/``TimeoutError`` as
    :func:`~routemq_runtime.transport.paho_client.with_connection` does.
    """
    token = secrets.token_hex(8).encode()
    events: dict[str, Any] = {}

    def on_subscribe(_c: Any, _u: Any, _mid: int, codes: list[Any], _p: Any) -> None:
        events["granted"] = not any(code.is_failure for code in codes)

    def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == topic and message.payload == token:
            events["arrived"] = time.monotonic()

    def run(client: mqtt.Client, left: float) -> float:
        deadline = time.monotonic() + min(left, timeout)
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        client.subscribe(f"$share/{group}/{topic}", qos=1)
        while "granted" not in events and time.monotonic() < deadline:
            client.loop(0.05)
        if not events.get("granted"):
            raise SharedSubscriptionsMissing(f"SUBSCRIBE $share/{group}/{topic} was refused")
        sent = time.monotonic()
        client.publish(topic, token, qos=1)
        while "arrived" not in events and time.monotonic() < deadline:
            client.loop(0.05)
        client.unsubscribe(f"$share/{group}/{topic}")
        if "arrived" not in events:
            raise SharedSubscriptionsMissing(
                f"nothing arrived through $share/{group}/{topic} within {timeout:g}s"
            )
        return events["arrived"] - sent

    client = new_client(config, clean_session=True)
    return with_connection(config, client, run, timeout + 5.0)
