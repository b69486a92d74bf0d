"""A persistent session that holds a subscription while nobody is connected to it.

The dead letters of an app are the use: a failure while no consumer listens must not vanish, and
QoS 1 messages are only kept for sessions that exist. So at start the app makes sure a session
subscribed to ``{ROUTEMQ_DLQ_PREFIX}/#`` exists and leaves it: the broker queues every dead
letter there until someone reads them as that client id.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from routemq_runtime.transport.paho_client import new_client, session_properties

if TYPE_CHECKING:
    from routemq_runtime.config import Config

#: MQTT 5 session expiry of a held session: 30 days, or what the broker allows below that.
HOLD_EXPIRY = 30 * 24 * 3600


def connect_held(
    client: mqtt.Client, config: Config, *, receive_maximum: int, keepalive: int
) -> None:
    """CONNECT as a held session: resumed, never cleaned, kept for ``HOLD_EXPIRY`` on MQTT 5."""
    properties = session_properties(config, receive_maximum)
    if properties is not None:
        properties.SessionExpiryInterval = HOLD_EXPIRY
    v5 = properties is not None
    client.connect(
        config.mqtt_broker,
        int(config.mqtt_port),
        keepalive=keepalive,
        clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
        properties=properties,
    )


def hold_subscription(
    config: Config, client_id: str, topic_filter: str, qos: int = 1, timeout: float = 10.0
) -> bool:
    """Make sure session ``client_id`` exists and is subscribed to ``topic_filter``, then leave
    it without taking anything: messages queued there stay (none is acknowledged; a message the
    broker sends meanwhile is redelivered to the next reader). Returns whether a session was
    already there. Raises as ``connect`` does when the broker cannot be reached.
    """
    client = new_client(config, client_id, clean_session=False, manual_ack=True)
    state: dict[str, Any] = {}

    def on_connect(_c: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        state["refused"] = str(reason) if reason.is_failure else None
        state["present"] = bool(flags.session_present)

    def on_subscribe(*_args: Any) -> None:
        state["subscribed"] = True

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    # Take as little as possible of what is queued.
    connect_held(client, config, receive_maximum=1, keepalive=10)
    try:
        _pump(client, state, "refused", timeout)
        if state.get("refused"):
            raise ConnectionRefusedError(f"broker refused {client_id!r}: {state['refused']}")
        client.subscribe(topic_filter, qos=qos)
        _pump(client, state, "subscribed", timeout)
        if "subscribed" not in state:
            raise TimeoutError(f"no SUBACK for {topic_filter!r} within {timeout:g}s")
        return state["present"]
    finally:
        if client.is_connected():
            client.disconnect()
            client.loop(0.05)


def _pump(client: mqtt.Client, state: dict[str, Any], key: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while key not in state and time.monotonic() < deadline:
        client.loop(0.05)
