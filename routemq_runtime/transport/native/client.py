"""RouteMQ's own MQTT client for worker slots: MQTT 3.1.1 and 5 on an asyncio connection.

It does what a slot needs and no more, with as little Python per message as it can: received
packets are decoded by index (:mod:`~routemq_runtime.transport.native.reader`), each message goes
to the consumer as an :class:`~routemq_runtime.message.InboundMessage`, and the acks of a loop
turn leave in one write. The interface is :class:`~routemq_runtime.transport.MqttTransport`'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from paho.mqtt.properties import Properties

from routemq_runtime.message import InboundMessage
from routemq_runtime.transport.connection import Reconnect, Subscription
from routemq_runtime.transport.native import codec
from routemq_runtime.transport.native.codec import Answer, MalformedPacket
from routemq_runtime.transport.native.link import Link
from routemq_runtime.transport.native.protocol import MqttProtocol
from routemq_runtime.transport.native.reader import PacketReader
from routemq_runtime.transport.native.session import CONFIRMATIONS, Outgoing, Session
from routemq_runtime.transport.slot_client import SlotClient

if TYPE_CHECKING:
    from routemq_runtime.config import Config

log = logging.getLogger("routemq.transport")

# One 32-bit word per ack: the packet type, remaining length 2, then the packet id.
_PUBACK_WORD = 0x40020000
_PUBREC_WORD = 0x50020000
# Packets a broker never sends to a client.
_CLIENT_ONLY = frozenset({codec.CONNECT, codec.SUBSCRIBE, codec.UNSUBSCRIBE, codec.PINGREQ})


class NativeTransport(SlotClient):
    """Connects, keeps a persistent session, (re)subscribes, hands messages over, acks, publishes.

    Same contract as :class:`~routemq_runtime.transport.MqttTransport`: ``on_message`` gets every
    PUBLISH on the loop thread; QoS 1/2 messages are later passed to :meth:`ack`. Packet ids
    belong to a connection: after ``on_connection_lost`` the consumer must drop the acks it still
    owes (the broker redelivers those messages, possibly under the same ids), as the pipeline
    does.
    """

    _connection: Link

    def __init__(
        self,
        config: Config,
        client_id: str,
        subscriptions: Sequence[Subscription],
        on_message: Callable[[InboundMessage], None],
        *,
        receive_maximum: int | None = None,
        on_ready: Callable[[bool], None] | None = None,
        on_connection_lost: Callable[[], None] | None = None,
        reconnect_base_delay: float = 0.5,
        reconnect_max_delay: float = 30.0,
        unsubscribe: Sequence[str] = (),
        once: bool = False,
    ) -> None:
        self.config = config
        self.client_id = client_id
        self.receive_maximum = receive_maximum
        self.v5 = str(config.mqtt_protocol) == "5"
        self.session = Session(v5=self.v5)
        self.reader = PacketReader(
            v5=self.v5,
            on_publish=on_message,
            on_packet=self._on_packet,
            on_duplicate=self._on_duplicate,
            released=self.session.released,
            # MQTT 5 tells the broker, which then never sends more; 3.1.1 cannot, and refusing a
            # message the broker will only send again would stop the slot for good.
            max_packet_size=config.mqtt_max_packet_size if self.v5 else None,
        )
        self._connection = Link(
            config,
            client_id,
            subscriptions,
            session=self.session,
            new_protocol=self._new_protocol,
            on_accepted=self._on_accepted,
            on_tick=self._on_tick,
            receive_maximum=receive_maximum,
            reconnect=Reconnect(reconnect_base_delay, reconnect_max_delay),
            on_ready=on_ready,
            on_lost=on_connection_lost,
            unsubscribe=unsubscribe,
            once=once,
        )
        self._resume_due = False

    # -- state ---------------------------------------------------------------------------------

    @property
    def received(self) -> int:
        return self.reader.received

    @property
    def reading_paused(self) -> bool:
        return self.reader.paused

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting; retries with backoff until connected or :meth:`close` is called."""
        self._connection.start(self._take_loop())

    def _unconfirmed(self) -> list[asyncio.Future[None]]:
        return self.session.unconfirmed

    def _closed(self) -> None:
        self.session.fail_all(ConnectionError("transport closed before the broker confirmed"))

    async def _disconnect(self, timeout: float, *, expire: bool) -> None:
        protocol = self._connection.protocol
        if protocol is None:
            return
        # From here on received messages are not handed over (nor acked): the broker keeps
        # them. Reading goes on so the socket is not closed with unread data (which resets the
        # connection and can lose what was written last).
        self.reader.on_publish = _ignore
        self.resume_reading()
        session_expiry = 0 if expire else None
        protocol.send(codec.disconnect_packet(v5=self.v5, session_expiry=session_expiry))
        try:
            await asyncio.wait_for(asyncio.shield(protocol.closed), timeout)
        except TimeoutError:
            log.warning("broker did not close the connection after DISCONNECT; closing it")
            protocol.close()

    async def _unsubscribe(self, filters: list[str], timeout: float) -> bool:
        assert self._loop is not None
        if not self.connected:
            return False
        answered: asyncio.Future[Answer] = self._loop.create_future()
        self._connection.unsubscribe(filters, lambda a: answered.done() or answered.set_result(a))
        self.resume_reading()  # the UNSUBACK is behind whatever the broker sent meanwhile
        try:
            await asyncio.wait_for(answered, timeout)
        except TimeoutError:
            return False
        return True

    # -- flow control --------------------------------------------------------------------------

    def pause_reading(self) -> None:
        # A publish waiting for its confirmation (a dead letter) needs reading, or the message
        # behind it is never finished and reading never resumes.
        if not self.session.inflight:
            self.reader.paused = True

    def resume_reading(self) -> None:
        if not self.reader.paused and not self._resume_due:
            return
        self.reader.paused = False
        protocol = self._connection.protocol
        if protocol is not None and not self._resume_due:
            # Not now: this is called while a message is being finished, and decoding would
            # hand over more messages in the middle of that.
            self._resume_due = True
            assert self._loop is not None
            self._loop.call_soon(self._resume)

    def _resume(self) -> None:
        self._resume_due = False
        protocol = self._connection.protocol
        if protocol is not None and not self.reader.paused:
            protocol.resume()

    # -- connections ---------------------------------------------------------------------------

    def _new_protocol(self) -> MqttProtocol:
        assert self._loop is not None
        return MqttProtocol(self, self._loop)

    def _on_accepted(self, answer: Answer) -> None:
        protocol = self._connection.protocol
        if protocol is not None:
            self.session.resume(answer.session_present, protocol.send)

    def _on_tick(self) -> None:
        if self.reader.paused:
            try:
                self.reader.skim()
            except MalformedPacket as error:
                protocol = self._connection.protocol
                if protocol is not None:
                    self.on_violation(protocol, error)

    def on_closed(self, protocol: MqttProtocol, error: BaseException | None) -> None:
        self._connection.closed(protocol, error)

    def on_violation(self, protocol: MqttProtocol, error: MalformedPacket) -> None:
        log.error("the broker sent a malformed packet (%s); closing the connection", error)
        if self.v5:
            protocol.send(codec.disconnect_packet(v5=True, reason=error.reason))
        protocol.close()

    # -- received packets ----------------------------------------------------------------------

    def _on_packet(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if kind in _CLIENT_ONLY:
            raise MalformedPacket(
                f"packet type {kind} is never sent to a client", codec.PROTOCOL_ERROR
            )
        if kind == codec.PUBREL:
            pid = int.from_bytes(body[:2], "big")
            self.session.released.discard(pid)
            self._connection.send(codec.ack_packet(codec.PUBCOMP, pid))
            return
        if kind == codec.AUTH:
            raise MalformedPacket("AUTH without an authentication method", codec.PROTOCOL_ERROR)
        answer = codec.decode_answer(kind, body, v5=self.v5)
        if kind in CONFIRMATIONS:
            protocol = self._connection.protocol
            self.session.confirmed(answer, protocol.send if protocol is not None else None)
        elif kind == codec.PINGRESP:
            self._connection.pong()
        elif kind == codec.CONNACK:
            self._connection.connack(answer)
        elif kind in (codec.SUBACK, codec.UNSUBACK):
            callback = self.session.answers.pop(answer.pid, None)
            if callback is not None:
                callback(answer)
        elif kind == codec.DISCONNECT:
            detail = f" ({answer.reason_string})" if answer.reason_string else ""
            reason = codec.reason_name(codec.DISCONNECT, answer.code)
            log.warning("the broker is closing the connection: %s%s", reason, detail)

    def _on_duplicate(self, pid: int) -> None:
        """A QoS 2 message handled before and not released yet: acknowledge it again."""
        protocol = self._connection.protocol
        if protocol is not None:
            protocol.ack(_PUBREC_WORD | pid)

    # -- operations ----------------------------------------------------------------------------

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a received QoS 1/2 message (loop thread only)."""
        protocol = self._connection.protocol
        if protocol is None or not self._connection.connected:
            return  # the broker will redeliver it to this session
        if qos == 1:
            protocol.ack(_PUBACK_WORD | mid)
        else:
            self.session.released.add(mid)
            protocol.ack(_PUBREC_WORD | mid)

    def publish(
        self,
        topic: str,
        payload: bytes = b"",
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> None:
        """Publish from any thread (off the loop thread it is queued to the loop)."""
        if self._loop is None or self.on_loop_thread():
            self._publish(topic, payload, qos, retain, properties, None)
        else:
            self._loop.call_soon_threadsafe(
                self._publish, topic, payload, qos, retain, properties, None
            )

    async def publish_confirmed(
        self,
        topic: str,
        payload: bytes = b"",
        qos: int = 1,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> None:
        """Publish (loop thread) and wait until the broker confirmed it (QoS 1/2); an
        unconfirmed publish is sent again after a reconnect, so this waits across losses."""
        assert self._loop is not None
        if not qos:
            self._publish(topic, payload, 0, retain, properties, None)
            return
        future: asyncio.Future[None] = self._loop.create_future()
        self._publish(topic, payload, qos, retain, properties, future)
        self.resume_reading()
        await future

    def _publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        properties: Properties | None,
        future: asyncio.Future[None] | None,
    ) -> None:
        protocol = self._connection.protocol if self._connection.connected else None
        if not qos:
            if protocol is not None:  # QoS 0 while disconnected is dropped, as MQTT allows
                protocol.send(
                    codec.publish_packet(
                        topic, payload, 0, retain, None, v5=self.v5, properties=properties
                    )
                )
            return
        outgoing = Outgoing(topic, payload, qos, retain, properties, future)
        self.session.publish(outgoing, protocol.send if protocol is not None else None)


def _ignore(_message: InboundMessage) -> None:
    """Messages received while closing stay with the broker."""
