"""Sending stored failures again (``routemq failed:retry``): to the original topic, with the
original QoS and MQTT 5 properties. An entry leaves the store only once the broker confirmed
its message (PUBACK/PUBCOMP); whatever was not confirmed stays, to be retried again."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from routemq_runtime.failed.record import FailedMessage
from routemq_runtime.transport.paho_client import new_client, protocol_of, with_connection

if TYPE_CHECKING:
    from routemq_runtime.config import Config


def publish_properties(kept: dict[str, Any]) -> Properties | None:
    """The MQTT 5 PUBLISH properties a dead letter kept (None when there were none)."""
    if not kept:
        return None
    properties = Properties(PacketTypes.PUBLISH)
    for name, value in kept.items():
        if isinstance(value, dict) and "base64" in value:
            value = base64.b64decode(value["base64"])
        elif name == "UserProperty":
            value = [(str(k), str(v)) for k, v in value]
        setattr(properties, name, value)
    return properties


def replay(
    config: Config,
    records: Sequence[FailedMessage],
    confirmed: Callable[[FailedMessage], None],
    timeout: float = 10.0,
) -> list[FailedMessage]:
    """Publish ``records``; ``confirmed(record)`` for each the broker took. Returns those it did
    not confirm in time. Raises as ``with_connection`` does when there is no broker."""
    v5 = protocol_of(str(config.mqtt_protocol)) == mqtt.MQTTv5
    budget = timeout + 0.01 * len(records)

    def send(client: mqtt.Client, left: float) -> list[FailedMessage]:
        pending = []
        for record in records:
            properties = publish_properties(record.properties) if v5 else None
            info = client.publish(
                record.topic, record.payload, qos=record.qos, properties=properties
            )
            pending.append((record, info))
            client.loop(0)  # write as we go: a long list does not wait on one big buffer
        deadline = time.monotonic() + left
        while pending and time.monotonic() < deadline:
            client.loop(0.05)
            waiting = []
            for record, info in pending:
                if info.is_published():
                    confirmed(record)
                else:
                    waiting.append((record, info))
            pending = waiting
        return [record for record, _info in pending]

    client = new_client(config, clean_session=True)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(max(20, min(len(records), 1000)))
    return with_connection(config, client, send, budget)
