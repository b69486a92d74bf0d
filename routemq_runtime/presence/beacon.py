"""The supervisor's presence connection: says ``online`` with a last will ``offline``, keeps its
layout retained, and reads everyone else's (paho's own thread; the supervisor loop only reads).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from routemq_runtime.presence.record import (
    LAYOUT,
    OFFLINE,
    ONLINE,
    STATE,
    Layout,
    parse_topic,
    state_payload,
    topic,
)
from routemq_runtime.presence.roster import Roster
from routemq_runtime.transport.paho_client import FATAL_CONNACK, new_client, refusal_hint

if TYPE_CHECKING:
    from routemq_runtime.config import Config

log = logging.getLogger("routemq.presence")

#: How long a clean stop waits for the broker to take the last ``offline``.
_STOP_WAIT = 2.0


class Beacon:
    """One clean-session client per supervisor, ``{instance}-presence``."""

    def __init__(self, config: Config, instance: str, roster: Roster) -> None:
        self.config = config
        self.instance = instance
        self.roster = roster
        self.prefix = config.presence_prefix
        self.fatal: str | None = None
        self.synced = threading.Event()
        self.lock = threading.Lock()
        self._layout: Layout | None = None
        self._barrier_mid: int | None = None
        self._client = new_client(config, f"{instance}-presence", clean_session=True)
        # The presence connection is what peers judge liveness by: a short keep-alive makes the
        # will fire soon after a crash; the grace period, not this, decides when to retire.
        self._client.reconnect_delay_set(0.5, 10)
        self._client.will_set(
            topic(self.prefix, instance, STATE), state_payload(OFFLINE), qos=1, retain=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_unsubscribe = self._on_unsubscribe
        self._client.on_message = self._on_message

    def start(self) -> None:
        keepalive = max(5, min(int(self.config.mqtt_keepalive), 30))
        self._client.connect_async(self.config.mqtt_broker, int(self.config.mqtt_port), keepalive)
        self._client.loop_start()

    def announce(self, layout: Layout) -> None:
        """Say which sessions this instance holds (retained), and that it is online."""
        self._layout = layout
        self._publish_own()

    def _publish_own(self) -> None:
        if self._layout is None or not self._client.is_connected():
            return  # published on (re)connect
        self._client.publish(
            topic(self.prefix, self.instance, LAYOUT), self._layout.encode(), 1, True
        )
        self._client.publish(
            topic(self.prefix, self.instance, STATE), state_payload(ONLINE), 1, True
        )

    def rewrite(self, instance: str, layout: Layout | None) -> None:
        """Replace another instance's records: fewer sessions left, or none (cleared)."""
        if layout is not None and layout.clients:
            self._client.publish(topic(self.prefix, instance, LAYOUT), layout.encode(), 1, True)
            return
        self._client.publish(topic(self.prefix, instance, LAYOUT), b"", 1, True)
        self._client.publish(topic(self.prefix, instance, STATE), b"", 1, True)

    def stop(self) -> None:
        """A clean stop: ``offline`` (the sessions stay, for a return within the grace period)."""
        if self._client.is_connected():
            info = self._client.publish(
                topic(self.prefix, self.instance, STATE), state_payload(OFFLINE), 1, True
            )
            deadline = time.monotonic() + _STOP_WAIT
            while not info.is_published() and time.monotonic() < deadline:
                time.sleep(0.02)
            self._client.disconnect()
        self._client.loop_stop()

    # -- paho callbacks (paho's thread) ----------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            text = str(reason)
            if text in FATAL_CONNACK:
                v5 = client.protocol == mqtt.MQTTv5
                self.fatal = f"broker refused the connection: {text}{refusal_hint(text, v5)}"
                client.disconnect()
            return
        client.subscribe(f"{self.prefix.rstrip('/')}/+/+", qos=1)
        self._publish_own()

    def _on_subscribe(self, client: mqtt.Client, *_args: Any) -> None:
        # Retained records come right after the SUBACK; the answer to this UNSUBSCRIBE (of a
        # filter never subscribed) comes after them, so then every record has been read.
        _result, self._barrier_mid = client.unsubscribe(f"$routemq-barrier/{self.instance}")

    def _on_unsubscribe(self, _c: Any, _u: Any, mid: int, *_args: Any) -> None:
        if mid == self._barrier_mid:
            self.synced.set()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        parsed = parse_topic(self.prefix, message.topic)
        if parsed is None:
            return
        instance, kind = parsed
        with self.lock:
            self.roster.observe(instance, kind, message.payload, time.monotonic())
