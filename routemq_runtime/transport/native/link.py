"""The native driver of the connection state machine: open a TCP/TLS connection on the loop,
CONNECT, read the CONNACK, SUBSCRIBE, keep the connection alive, and report all of it to
:class:`~routemq_runtime.transport.connection.Connection`."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from routemq_runtime.transport.connection import Connection, Subscription
from routemq_runtime.transport.native.codec import (
    CONNACK,
    PINGREQ_PACKET,
    SUBACK,
    Answer,
    connect_packet,
    reason_name,
    subscribe_packet,
    unsubscribe_packet,
)
from routemq_runtime.transport.native.protocol import MqttProtocol
from routemq_runtime.transport.native.session import Session
from routemq_runtime.transport.paho_client import session_properties

if TYPE_CHECKING:
    from routemq_runtime.config import Config

log = logging.getLogger("routemq.transport")

#: Seconds for the TCP connect and TLS handshake, and again for the CONNACK.
CONNECT_TIMEOUT = 10.0
#: Seconds between keep-alive checks.
KEEPALIVE_TICK = 1.0


def tls_context(config: Config) -> ssl.SSLContext | None:
    """The TLS settings as an SSL context (loading the files now: a bad one raises here)."""
    if not config.mqtt_tls:
        return None
    context = ssl.create_default_context(cafile=config.mqtt_tls_ca_file)
    if config.mqtt_tls_cert_file:
        context.load_cert_chain(config.mqtt_tls_cert_file, config.mqtt_tls_key_file)
    if config.mqtt_tls_insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class Link(Connection):
    """Connects one session over ``new_protocol()`` connections and keeps them alive."""

    def __init__(
        self,
        config: Config,
        client_id: str,
        subscriptions: Sequence[Subscription],
        *,
        session: Session,
        new_protocol: Callable[[], MqttProtocol],
        on_accepted: Callable[[Answer], None],
        on_tick: Callable[[], None],
        **options: Any,
    ) -> None:
        super().__init__(config, client_id, subscriptions, **options)
        self.session = session
        self.protocol: MqttProtocol | None = None
        self.keepalive = int(config.mqtt_keepalive)
        self._ssl = tls_context(config)
        self._new_protocol = new_protocol
        self._on_accepted = on_accepted
        self._on_tick = on_tick
        self._task: asyncio.Task[None] | None = None
        self._connack_timer: asyncio.TimerHandle | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._ping_sent: float | None = None
        self._subscribe_pid = 0

    # -- the driver's part of the state machine ------------------------------------------------

    def _open(self, first: bool) -> None:
        assert self._loop is not None
        self._task = self._loop.create_task(self._connect())

    async def _connect(self) -> None:
        config = self.config
        assert self._loop is not None
        try:
            _transport, protocol = await asyncio.wait_for(
                self._loop.create_connection(
                    self._new_protocol,
                    config.mqtt_broker,
                    int(config.mqtt_port),
                    ssl=self._ssl,
                    server_hostname=config.mqtt_broker if self._ssl else None,
                ),
                CONNECT_TIMEOUT,
            )
        except TimeoutError:
            self.attempt_failed(TimeoutError(f"no answer within {CONNECT_TIMEOUT:g}s"))
            return
        except OSError as error:  # ssl.SSLError is one too
            self.attempt_failed(error)
            return
        if self.stopping:
            protocol.abort()
            return
        self.protocol = protocol
        properties = session_properties(config, self.receive_maximum)
        log.debug(
            "sending CONNECT as %r (MQTT %s, username %r, password %s, keep-alive %ds)",
            self.client_id,
            "5" if self.v5 else "3.1.1",
            config.mqtt_username,
            "***" if config.mqtt_password and config.mqtt_username else "none",
            config.mqtt_keepalive,
        )
        protocol.send(
            connect_packet(
                self.client_id,
                v5=self.v5,
                keepalive=int(config.mqtt_keepalive),
                clean_start=False,  # a persistent session, kept across restarts
                username=config.mqtt_username,
                password=config.mqtt_password if config.mqtt_username else None,
                properties=properties,
            )
        )
        self._connack_timer = self._loop.call_later(CONNECT_TIMEOUT, self._no_connack, protocol)

    def _no_connack(self, protocol: MqttProtocol) -> None:
        log.warning("no CONNACK within %.0fs; closing the connection", CONNECT_TIMEOUT)
        protocol.abort()

    def _drop(self) -> None:
        protocol = self.protocol
        if protocol is not None and protocol.open:
            protocol.close()

    def _send_subscribe(self) -> None:
        self._subscribe_pid = pid = self.session.next_pid()
        self.session.answers[pid] = self._on_suback
        filters = [(s.topic_filter, s.qos) for s in self.subscriptions]
        self.send(subscribe_packet(pid, filters, v5=self.v5))

    def _send_unsubscribe(self, filters: list[str]) -> None:
        self.unsubscribe(filters, None)

    def unsubscribe(self, filters: list[str], on_answer: Callable[[Answer], None] | None) -> None:
        pid = self.session.next_pid()
        self.session.answers[pid] = on_answer or (lambda _answer: None)
        self.send(unsubscribe_packet(pid, filters, v5=self.v5))

    def send(self, data: bytes) -> None:
        if self.protocol is not None:
            self.protocol.send(data)

    # -- what the broker said ------------------------------------------------------------------

    def connack(self, answer: Answer) -> None:
        if self._connack_timer is not None:
            self._connack_timer.cancel()
            self._connack_timer = None
        if answer.code >= 0x80:
            self.refused(reason_name(CONNACK, answer.code), answer.reason_string)
            self._drop()
            return
        properties = answer.properties
        self.keepalive = int(getattr(properties, "ServerKeepAlive", self.config.mqtt_keepalive))
        self.session.quota = int(getattr(properties, "ReceiveMaximum", 65535))
        assigned = getattr(properties, "AssignedClientIdentifier", None)
        if assigned:
            log.info("the broker assigned the client id %r", assigned)
        self._on_accepted(answer)
        self._ping_sent = None
        self._schedule_tick()
        self.accepted(answer.session_present)

    def _on_suback(self, answer: Answer) -> None:
        if answer.pid != self._subscribe_pid:
            return
        self.subscribe_answered(
            [reason_name(SUBACK, code) if code >= 0x80 else None for code in answer.codes]
        )

    def closed(self, protocol: MqttProtocol, error: BaseException | None) -> None:
        if protocol is not self.protocol:
            return
        self.protocol = None
        if self._connack_timer is not None:
            self._connack_timer.cancel()
            self._connack_timer = None
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        self.lost(str(error) if error else "connection closed")

    # -- keep-alive ----------------------------------------------------------------------------

    def _schedule_tick(self) -> None:
        assert self._loop is not None
        # Also without a keep-alive (a broker may say 0): the tick takes answers held behind
        # paused messages too.
        if self._tick is None:
            self._tick = self._loop.call_later(KEEPALIVE_TICK, self._keep_alive)

    def _keep_alive(self) -> None:
        self._tick = None
        protocol = self.protocol
        if protocol is None or not protocol.open:
            return
        self._on_tick()
        if not self.keepalive:
            self._schedule_tick()
            return
        now = time.monotonic()
        if self._ping_sent is not None and protocol.last_read > self._ping_sent:
            self._ping_sent = None  # something arrived since: the broker is there
        if self._ping_sent is None and now - protocol.last_write >= self.keepalive * 0.75:
            protocol.send(PINGREQ_PACKET)
            self._ping_sent = now
        elif (
            self._ping_sent is not None
            and now - self._ping_sent > self.keepalive
            # Paused by us with a full buffer: the answer may be waiting behind it.
            and not protocol.socket_paused
        ):
            log.warning("no answer from the broker within %ds of a PINGREQ", self.keepalive)
            protocol.abort()
            return
        self._schedule_tick()

    def pong(self) -> None:
        self._ping_sent = None
