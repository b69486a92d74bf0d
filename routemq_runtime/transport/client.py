"""The worker's MQTT connection: a persistent session that (re)connects, subscribes, hands
messages over, acks in order and publishes with confirmation.

The socket is driven by the running asyncio loop (:mod:`~routemq_runtime.transport.bridge`);
paho clients are built by :mod:`~routemq_runtime.transport.paho_client`. Every paho callback
runs on the loop thread and only records or enqueues: nothing a handler does can raise into paho
(an exception there would stop its processing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from routemq_runtime.message import InboundMessage
from routemq_runtime.transport import paho_speedups
from routemq_runtime.transport.bridge import SocketBridge, guarded
from routemq_runtime.transport.connection import Reconnect, Subscription, TransportError
from routemq_runtime.transport.paho_client import new_client, protocol_of
from routemq_runtime.transport.paho_connection import PahoConnection
from routemq_runtime.transport.slot_client import SlotClient

if TYPE_CHECKING:
    from routemq_runtime.config import Config

log = logging.getLogger("routemq.transport")

__all__ = ["MqttTransport", "Subscription", "TransportError", "protocol_of"]


class MqttTransport(SlotClient):
    """Connects, keeps a persistent session, (re)subscribes, hands messages over, acks, publishes.

    ``on_message(message)`` is called on the loop thread for every PUBLISH received, with an
    :class:`~routemq_runtime.message.InboundMessage`; QoS 1/2 messages must later be passed to
    :meth:`ack`. ``on_ready(ready)`` is called with True once connected and subscribed and with
    False when the connection is lost; ``on_connection_lost()`` when an accepted connection is
    gone (the broker redelivers whatever was not acked, so acks still owed on the old connection
    must be dropped). ``unsubscribe`` names filters a resumed session may hold from an earlier
    layout; ``once`` gives up instead of reconnecting (a session that belongs to someone else).
    """

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
        self.protocol = protocol_of(str(config.mqtt_protocol))
        self.v5 = self.protocol == mqtt.MQTTv5
        if self.protocol == mqtt.MQTTv5:
            paho_speedups.install()
        self.receive_maximum = receive_maximum
        self._on_message_cb = on_message
        self.received = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._client = self._make_client()
        self._connection = PahoConnection(
            config,
            client_id,
            self._client,
            subscriptions,
            receive_maximum=receive_maximum,
            reconnect=Reconnect(reconnect_base_delay, reconnect_max_delay),
            on_ready=on_ready,
            on_lost=on_connection_lost,
            unsubscribe=unsubscribe,
            once=once,
        )
        self._bridge: SocketBridge | None = None
        self._pending_confirm: dict[int, asyncio.Future[None]] = {}
        self._barrier_waiters: dict[int, asyncio.Future[None]] = {}

    def _make_client(self) -> mqtt.Client:
        # 3.1.1 keeps the session across restarts with clean_session=False; MQTT 5 does the same
        # with clean_start=False plus a session expiry, given at connect time.
        client = new_client(self.config, self.client_id, clean_session=False, manual_ack=True)
        # Outgoing QoS 1 publishes (dead letters, handler publishes) may all be in flight at once.
        client.max_inflight_messages_set(max(20, self.receive_maximum or 0))
        paho_log = logging.getLogger("routemq.paho")
        if paho_log.isEnabledFor(logging.DEBUG):
            # Off otherwise: paho logs twice per packet, which costs ~10% of the receive path.
            # Connection failures are reported by this module from paho's return codes.
            client.enable_logger(paho_log)
        client.on_unsubscribe = self._on_unsubscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    # -- state, as the connection and the bridge know it ---------------------------------------

    @property
    def reading_paused(self) -> bool:
        return self._bridge is not None and self._bridge.reading_paused

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting; retries with backoff until connected or :meth:`close` is called."""
        self._bridge = SocketBridge(
            self._client,
            self._take_loop(),
            keepalive=int(self.config.mqtt_keepalive),
            received=lambda: self.received,
            keep_ticking=lambda: not self._connection.stopping,
        )
        self._connection.start(self._bridge)

    def _unconfirmed(self) -> list[asyncio.Future[None]]:
        return list(self._pending_confirm.values())

    def _closed(self) -> None:
        assert self._bridge is not None
        self._bridge.stop_housekeeping()
        for fut in self._pending_confirm.values():
            if not fut.done():
                fut.set_exception(ConnectionError("transport closed before the broker confirmed"))
        self._pending_confirm.clear()

    async def _disconnect(self, timeout: float, *, expire: bool) -> None:
        bridge = self._bridge
        assert bridge is not None
        if bridge.sock is None:
            return
        bridge.closed.clear()
        # Whatever the broker sent meanwhile is read first: closing a socket with unread data
        # makes the kernel reset the connection instead of closing it.
        bridge.read_everything_buffered()
        if bridge.sock is not None:
            properties = None
            if expire:
                properties = Properties(PacketTypes.DISCONNECT)
                properties.SessionExpiryInterval = 0
            self._client.disconnect(properties=properties)
            self._client.loop_write()
        try:
            await asyncio.wait_for(bridge.closed.wait(), timeout)
        except TimeoutError:
            log.warning("broker did not take the DISCONNECT in %.1fs; closing", timeout)
            bridge.drop_socket()

    async def _unsubscribe(self, filters: list[str], timeout: float) -> bool:
        result, mid = self._client.unsubscribe(filters)
        if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
            return False
        return await self._wait_unsuback(mid, timeout)

    async def _wait_unsuback(self, mid: int, timeout: float) -> bool:
        assert self._loop is not None
        fut: asyncio.Future[None] = self._loop.create_future()
        self._barrier_waiters[mid] = fut
        self.resume_reading()  # the UNSUBACK is behind whatever the broker sent meanwhile
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return False
        finally:
            self._barrier_waiters.pop(mid, None)
        return True

    # -- flow control --------------------------------------------------------------------------

    def pause_reading(self) -> None:
        # A publish waiting for its PUBACK (a dead letter) needs reading, or the message behind
        # it is never finished and reading never resumes.
        if self._pending_confirm or self._bridge is None:
            return
        self._bridge.pause_reading()

    def resume_reading(self) -> None:
        if self._bridge is not None:
            self._bridge.resume_reading()

    # -- paho callbacks (loop thread; they only record and enqueue) ----------------------------

    @guarded
    def _on_unsubscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        fut = self._barrier_waiters.get(mid)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.received += 1
        try:
            self._on_message_cb(
                InboundMessage(
                    message.topic,
                    message.payload,
                    message.qos,
                    message.retain,
                    message.properties,
                    message.mid,
                )
            )
        except Exception:  # never into paho: its read loop would stop on it
            log.exception("message callback failed for mid %s", message.mid)

    @guarded
    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        fut = self._pending_confirm.pop(mid, None)
        if fut is not None and not fut.done():
            if reason_code.is_failure:
                fut.set_exception(ConnectionError(f"broker rejected publish: {reason_code}"))
            else:
                fut.set_result(None)

    # -- operations ----------------------------------------------------------------------------

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a received QoS 1/2 message (loop thread only)."""
        if self.connected:
            self._client.ack(mid, qos)
        # Not connected: the broker will redeliver it to this session; acking now is impossible.

    def publish(
        self,
        topic: str,
        payload: bytes = b"",
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> mqtt.MQTTMessageInfo | None:
        """Publish from any thread; off the loop thread it is queued to the loop (returns None)."""
        if self._loop is None or self.on_loop_thread():
            return self._client.publish(topic, payload, qos, retain, properties)
        self._loop.call_soon_threadsafe(
            self._client.publish, topic, payload, qos, retain, properties
        )
        return None

    async def publish_confirmed(
        self,
        topic: str,
        payload: bytes = b"",
        qos: int = 1,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> None:
        """Publish (loop thread) and wait until the broker confirmed it (QoS 1/2).

        paho keeps an unconfirmed QoS>0 publish and resends it after a reconnect, so this waits
        across connection losses.
        """
        assert self._loop is not None
        info = self._client.publish(topic, payload, qos, retain, properties)
        if qos == 0:
            if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
                raise ConnectionError(f"publish to {topic!r} failed: {mqtt.error_string(info.rc)}")
            return
        if info.is_published():
            return
        fut = self._loop.create_future()
        self._pending_confirm[info.mid] = fut
        self.resume_reading()
        await fut
