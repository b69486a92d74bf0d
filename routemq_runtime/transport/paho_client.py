"""paho-mqtt clients built from a :class:`~routemq_runtime.config.Config`: protocol, credentials,
TLS and connect options in one place, for the worker's transport and for one-off clients (ending
a session, ``routemq publish``).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

if TYPE_CHECKING:
    from routemq_runtime.config import Config

log = logging.getLogger("routemq.transport")

# CONNACK reasons that no retry can fix: the slot exits so that its supervisor (and the operator)
# sees the problem instead of a worker that silently never becomes ready.
FATAL_CONNACK = frozenset(
    {
        "Unsupported protocol version",
        "Client identifier not valid",
        "Bad user name or password",
        "Not authorized",
        "Banned",
        "Bad authentication method",
    }
)


def refusal_hint(reason: str, v5: bool) -> str:
    """What to change for a CONNACK refusal, when the settings can fix it."""
    if v5 and reason == "Unsupported protocol version":
        return " (the broker does not speak MQTT 5; set MQTT_PROTOCOL=3.1.1)"
    return ""


def unreachable_hint(config: Config) -> str:
    """What to check when no broker has answered yet (said once; retries go on)."""
    where, port = config.mqtt_broker, config.mqtt_port
    return (
        f"no MQTT broker answers at {where}:{port}; start one (e.g. `docker compose up -d "
        f"mosquitto` or `mosquitto -p {port}`) or fix MQTT_BROKER/MQTT_PORT in .env; still retrying"
    )


class BrokerRefused(ConnectionError):
    """The broker answered the CONNECT with a refusal (the reason is the message)."""


def protocol_of(name: str) -> int:
    if name in ("5", "5.0", "MQTTv5"):
        return mqtt.MQTTv5
    if name in ("3.1.1", "311", "MQTTv311"):
        return mqtt.MQTTv311
    raise ValueError(f"MQTT_PROTOCOL={name!r} is not supported (use '5' or '3.1.1')")


def new_client(
    config: Config, client_id: str = "", *, clean_session: bool | None, manual_ack: bool = False
) -> mqtt.Client:
    """A paho client speaking ``MQTT_PROTOCOL`` with the configured credentials and TLS.

    ``clean_session`` applies to MQTT 3.1.1 (MQTT 5 says it at connect time instead). Loading
    the TLS files happens here, so a bad file raises ``OSError``/``ssl.SSLError`` now.
    """
    protocol = protocol_of(str(config.mqtt_protocol))
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=None if protocol == mqtt.MQTTv5 else clean_session,
        protocol=protocol,
        manual_ack=manual_ack,
    )
    if config.mqtt_username:
        client.username_pw_set(config.mqtt_username, config.mqtt_password)
    if config.mqtt_tls:
        client.tls_set(
            ca_certs=config.mqtt_tls_ca_file,
            certfile=config.mqtt_tls_cert_file,
            keyfile=config.mqtt_tls_key_file,
            cert_reqs=ssl.CERT_NONE if config.mqtt_tls_insecure else ssl.CERT_REQUIRED,
        )
        if config.mqtt_tls_insecure:
            client.tls_insecure_set(True)
    return client


def session_properties(config: Config, receive_maximum: int | None) -> Properties | None:
    """MQTT 5 CONNECT properties of a persistent session (None on 3.1.1)."""
    if protocol_of(str(config.mqtt_protocol)) != mqtt.MQTTv5:
        return None
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = int(config.mqtt_session_expiry)
    if receive_maximum:
        props.ReceiveMaximum = int(receive_maximum)
    if config.mqtt_max_packet_size:
        props.MaximumPacketSize = int(config.mqtt_max_packet_size)
    return props


def with_connection(
    config: Config,
    client: mqtt.Client,
    use: Callable[[mqtt.Client, float], Any],
    timeout: float,
) -> Any:
    """Connect ``client`` (blocking, its own short loop), wait for the CONNACK, call
    ``use(client, seconds_left)``, then DISCONNECT; returns what ``use`` returned.

    Raises ``OSError`` when the broker cannot be reached, :class:`BrokerRefused` when it refuses,
    ``TimeoutError`` when it does not answer in time.
    """
    answered = threading.Event()
    refusal: list[str] = []

    def on_connect(_client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            refusal.append(str(reason))
        answered.set()

    client.on_connect = on_connect
    deadline = time.monotonic() + timeout
    client.connect(config.mqtt_broker, int(config.mqtt_port), keepalive=10)
    try:
        while not answered.is_set() and time.monotonic() < deadline:
            client.loop(0.05)
        if not answered.is_set():
            raise TimeoutError(f"no CONNACK within {timeout:g}s")
        if refusal:
            raise BrokerRefused(refusal[0])
        return use(client, max(0.0, deadline - time.monotonic()))
    finally:
        # paho reports a DISCONNECT on a socket it already closed as an error; only a live
        # connection is closed, and its packets are written before the socket goes.
        if client.is_connected():
            client.disconnect()
            client.loop(0.05)


def end_session(config: Config, client_id: str, timeout: float) -> None:
    """Connect once with a clean session and leave: the broker drops the one it stored."""
    client = new_client(config, client_id, clean_session=True)
    try:
        with_connection(config, client, lambda _client, _left: None, timeout)
    except (OSError, ssl.SSLError, TimeoutError) as error:
        log.warning("could not end the broker session of %r: %s", client_id, error)


def publish_once(
    config: Config, topic: str, payload: bytes, qos: int, retain: bool, timeout: float = 10.0
) -> None:
    """Publish one message and wait until the broker took it (QoS 1/2: its acknowledgement)."""

    def publish(client: mqtt.Client, left: float) -> None:
        info = client.publish(topic, payload, qos=qos, retain=retain)
        deadline = time.monotonic() + left
        while not info.is_published() and time.monotonic() < deadline:
            client.loop(0.05)
        if not info.is_published():
            raise TimeoutError(f"the broker did not confirm the message within {timeout:g}s")

    with_connection(config, new_client(config, clean_session=True), publish, timeout)
