"""The connection state machine: connect, retry with backoff, subscribe, ready, lost, refused.

::

    start ──connect──▶ CONNACK ok ──SUBSCRIBE──▶ SUBACK ok ──▶ ready
      ▲  │                │                         │
      │  └─ OSError ─┐    └─ fatal refusal ─┐       └─ refused ─┐
      │              ▼                       ▼                   ▼
      └──backoff── retrying               failed (the worker exits: no retry can help)
                     ▲
    ready ──lost─────┘   (acks owed on the old connection are dropped by the consumer)
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from routemq_runtime.transport.backoff import backoff_delay
from routemq_runtime.transport.bridge import SocketBridge, guarded
from routemq_runtime.transport.paho_client import (
    FATAL_CONNACK,
    protocol_of,
    refusal_hint,
    session_properties,
    unreachable_hint,
)

if TYPE_CHECKING:
    from routemq_runtime.config import Config

log = logging.getLogger("routemq.transport")

#: Failed connection attempts (never connected yet) before the log says what to check.
HINT_AFTER_ATTEMPTS = 2


@dataclass(frozen=True)
class Subscription:
    """A filter as sent to the broker (``$share/...`` included) and its QoS."""

    topic_filter: str
    qos: int = 0


class TransportError(RuntimeError):
    """The broker refused this client in a way retrying cannot fix."""


@dataclass(frozen=True)
class Reconnect:
    """Backoff of connection attempts: ``base`` doubled per failed attempt, up to ``maximum``."""

    base: float = 0.5
    maximum: float = 30.0


class Connection:
    """Owns connecting and subscribing for one paho client; reports readiness and losses.

    ``on_ready(ready)`` is called when connected-and-subscribed changes; ``on_lost()`` when an
    accepted connection is gone.
    """

    def __init__(
        self,
        config: Config,
        client_id: str,
        client: mqtt.Client,
        subscriptions: Sequence[Subscription],
        *,
        receive_maximum: int | None,
        reconnect: Reconnect,
        on_ready: Callable[[bool], None] | None,
        on_lost: Callable[[], None] | None,
        unsubscribe: Sequence[str] = (),
        once: bool = False,
    ) -> None:
        self.config = config
        self.client_id = client_id
        self.client = client
        self.subscriptions = tuple(subscriptions)
        self.receive_maximum = receive_maximum
        # Filters a resumed session may still hold from an earlier layout (another group, an
        # old route pattern): left on every connect, so each message arrives once.
        current = {s.topic_filter for s in subscriptions}
        self.stale = tuple(f for f in unsubscribe if f not in current)
        # A connection to someone else's session gives it back when it is lost (the owner may
        # have returned): reconnecting would fight the owner for it.
        self.once = once
        self.v5 = protocol_of(str(config.mqtt_protocol)) == mqtt.MQTTv5
        self.connected = False
        self.subscribed = False
        self.reconnects = 0
        self.fatal_error: TransportError | None = None
        self.stopping = False
        self.ready = asyncio.Event()
        self._reconnect = reconnect
        self._on_ready = on_ready
        self._on_lost = on_lost
        self._bridge: SocketBridge | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._attempt = 0
        self._ever_connected = False
        self._hinted = False
        self._subscribe_mid: int | None = None
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect

    def start(self, bridge: SocketBridge) -> None:
        self._bridge = bridge
        self._loop = bridge.loop
        self._attempt_connect()

    def stop(self) -> None:
        """No more attempts: what follows is a clean close (or nothing)."""
        self.stopping = True
        if self._timer:
            self._timer.cancel()
            self._timer = None

    def reset(self, why: str) -> None:
        """Disconnect and reconnect to the same session: the broker then redelivers every
        unacknowledged message, which unblocks an ack queue stuck behind a lost message."""
        if self.stopping or not self.connected:
            return
        log.warning("%s; reconnecting so the broker redelivers unacknowledged messages", why)
        self.client.disconnect()

    # -- attempts ------------------------------------------------------------------------------

    def _attempt_connect(self) -> None:
        self._timer = None
        if self.stopping:
            return
        self._attempt += 1
        config = self.config
        assert self._bridge is not None
        try:
            # A blocking TCP connect (and TLS handshake): nothing else could make progress
            # without the connection anyway, and paho offers no non-blocking connect.
            if self._ever_connected or self._attempt > 1:
                self.client.reconnect()
            else:
                self.client.connect(
                    config.mqtt_broker,
                    int(config.mqtt_port),
                    keepalive=int(config.mqtt_keepalive),
                    clean_start=False if self.v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                    properties=session_properties(config, self.receive_maximum),
                )
        except (OSError, ssl.SSLError) as exc:
            self._bridge.drop_socket()
            self._schedule(f"connect to {config.mqtt_broker}:{config.mqtt_port}: {exc}")
            self._hint_unreachable()
            return
        self._bridge.start_housekeeping()

    def _hint_unreachable(self) -> None:
        """Say once what to check when no broker has answered yet (retries go on)."""
        if self._hinted or self._ever_connected or self._attempt < HINT_AFTER_ATTEMPTS:
            return
        self._hinted = True
        log.warning("%s", unreachable_hint(self.config))

    def _schedule(self, why: str) -> None:
        if self.stopping or self.fatal_error or self._timer is not None:
            return
        assert self._loop is not None
        # The first retry after a lost connection uses the base delay.
        attempt = max(1, self._attempt)
        delay = backoff_delay(attempt, self._reconnect.base, self._reconnect.maximum)
        log.warning("%s; reconnecting in %.2fs (attempt %d)", why, delay, attempt)
        self._timer = self._loop.call_later(delay, self._attempt_connect)

    def _fail(self, error: TransportError) -> None:
        log.error("%s", error)
        self.fatal_error = error
        self.stopping = True
        self.ready.set()
        if self._bridge is not None and self._bridge.sock is not None:
            self.client.disconnect()

    # -- paho callbacks (loop thread) ----------------------------------------------------------

    @guarded
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            reason = str(reason_code)
            if reason in FATAL_CONNACK:
                hint = refusal_hint(reason, self.v5)
                self._fail(
                    TransportError(f"broker refused client {self.client_id!r}: {reason}{hint}")
                )
            else:
                log.warning("broker refused the connection: %s", reason)
            return
        self.connected = True
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        self._attempt = 0
        log.info(
            "connected to %s:%s as %r (session present: %s)",
            self.config.mqtt_broker,
            self.config.mqtt_port,
            self.client_id,
            flags.session_present,
        )
        if self.stale:
            log.info("leaving filters of an earlier layout: %s", ", ".join(self.stale))
            client.unsubscribe(list(self.stale))
        if self.subscriptions:
            self._subscribe()
        else:
            self.set_ready(True)

    def _subscribe(self) -> None:
        if self.v5:
            # Retained messages only for a subscription that is new, not on every reconnect.
            topics: list[tuple[str, Any]] = [
                (s.topic_filter, SubscribeOptions(qos=s.qos, retainHandling=1))
                for s in self.subscriptions
            ]
        else:
            topics = [(s.topic_filter, s.qos) for s in self.subscriptions]
        result, mid = self.client.subscribe(topics)
        if result != mqtt.MQTT_ERR_SUCCESS:
            log.warning("SUBSCRIBE could not be sent: %s", mqtt.error_string(result))
        self._subscribe_mid = mid

    @guarded
    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [
            f"{sub.topic_filter} ({code})"
            for sub, code in zip(self.subscriptions, reason_codes, strict=False)
            if code.is_failure
        ]
        if refused:
            self._fail(TransportError(f"broker refused subscription: {', '.join(refused)}"))
            return
        log.info("subscribed: %s", ", ".join(s.topic_filter for s in self.subscriptions))
        self.set_ready(True)

    @guarded
    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was_connected = self.connected
        self.connected = False
        self.set_ready(False)
        if self._bridge is not None and self._bridge.sock is None:
            self._bridge.closed.set()
        if was_connected and self._on_lost is not None:
            try:
                self._on_lost()
            except Exception:
                log.exception("connection-lost callback failed")
        if self.stopping:
            return
        if self.once and self._ever_connected:
            self._fail(TransportError(f"connection to {self.client_id!r} lost: {reason_code}"))
            return
        if was_connected:
            log.warning("connection lost: %s", reason_code)
        self._schedule(f"disconnected ({reason_code})")

    def set_ready(self, ready: bool) -> None:
        changed = ready != self.subscribed
        self.subscribed = ready
        if ready:
            self.ready.set()
        elif not self.fatal_error:
            self.ready.clear()
        if changed and self._on_ready is not None:
            try:
                self._on_ready(ready)
            except Exception:
                log.exception("ready callback failed")
