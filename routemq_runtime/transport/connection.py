"""The connection state machine: connect, retry with backoff, subscribe, ready, lost, refused.

The rules live here once; a driver (paho's in :mod:`~routemq_runtime.transport.paho_connection`,
RouteMQ's own in :mod:`~routemq_runtime.transport.native`) opens connections, sends packets and
reports what the broker answered.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt

from routemq_runtime.transport.backoff import backoff_delay
from routemq_runtime.transport.paho_client import (
    FATAL_CONNACK,
    protocol_of,
    refusal_hint,
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
    """Owns connecting and subscribing for one client session; reports readiness and losses.

    ``on_ready(ready)`` is called when connected-and-subscribed changes; ``on_lost()`` when an
    accepted connection is gone. A driver implements :meth:`_open`, :meth:`_drop`,
    :meth:`_send_subscribe` and :meth:`_send_unsubscribe`, and reports the broker's answers with
    :meth:`attempt_failed`, :meth:`accepted`, :meth:`refused`, :meth:`subscribe_answered` and
    :meth:`lost`.
    """

    def __init__(
        self,
        config: Config,
        client_id: str,
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._attempt = 0
        self._ever_connected = False
        self._hinted = False

    # -- what a driver does --------------------------------------------------------------------

    def _open(self, first: bool) -> None:
        """Start one connection attempt (``first``: this session has never been tried)."""
        raise NotImplementedError

    def _drop(self) -> None:
        """Close the current connection, if any (its loss is then reported with :meth:`lost`)."""
        raise NotImplementedError

    def _send_subscribe(self) -> None:
        raise NotImplementedError

    def _send_unsubscribe(self, filters: list[str]) -> None:
        raise NotImplementedError

    # -- control -------------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
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
        self._drop()

    # -- attempts ------------------------------------------------------------------------------

    def _attempt_connect(self) -> None:
        self._timer = None
        if self.stopping:
            return
        self._attempt += 1
        self._open(not (self._ever_connected or self._attempt > 1))

    def attempt_failed(self, error: BaseException) -> None:
        """The broker could not be reached (or the TLS handshake failed)."""
        config = self.config
        self._schedule(f"connect to {config.mqtt_broker}:{config.mqtt_port}: {error}")
        self._hint_unreachable()

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

    def fail(self, error: TransportError) -> None:
        """Give up for good: no retry can help."""
        log.error("%s", error)
        self.fatal_error = error
        self.stopping = True
        self.ready.set()
        self._drop()

    # -- what the broker answered --------------------------------------------------------------

    def refused(self, reason: str, detail: str | None = None) -> None:
        """A CONNACK refusal (``reason`` as paho names it; ``detail``: MQTT 5 reason string)."""
        said = f"{reason} ({detail})" if detail else reason
        if reason in FATAL_CONNACK:
            hint = refusal_hint(reason, self.v5)
            self.fail(TransportError(f"broker refused client {self.client_id!r}: {said}{hint}"))
        else:
            log.warning("broker refused the connection: %s", said)

    def accepted(self, session_present: bool) -> None:
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
            session_present,
        )
        if self.stale:
            log.info("leaving filters of an earlier layout: %s", ", ".join(self.stale))
            self._send_unsubscribe(list(self.stale))
        if self.subscriptions:
            self._send_subscribe()
        else:
            self.set_ready(True)

    def subscribe_answered(self, refusals: Sequence[str | None]) -> None:
        """The SUBACK of :meth:`_send_subscribe`: per filter, None or why it was refused."""
        refused = [
            f"{sub.topic_filter} ({why})"
            for sub, why in zip(self.subscriptions, refusals, strict=False)
            if why is not None
        ]
        if refused:
            self.fail(TransportError(f"broker refused subscription: {', '.join(refused)}"))
            return
        log.info("subscribed: %s", ", ".join(s.topic_filter for s in self.subscriptions))
        self.set_ready(True)

    def lost(self, reason: str) -> None:
        """The connection (accepted or not) is gone."""
        was_connected = self.connected
        self.connected = False
        self.set_ready(False)
        if was_connected and self._on_lost is not None:
            try:
                self._on_lost()
            except Exception:
                log.exception("connection-lost callback failed")
        if self.stopping:
            return
        if self.once and self._ever_connected:
            self.fail(TransportError(f"connection to {self.client_id!r} lost: {reason}"))
            return
        if was_connected:
            log.warning("connection lost: %s", reason)
        self._schedule(f"disconnected ({reason})")

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
