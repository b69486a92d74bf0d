"""A paho-mqtt client whose socket is driven by the running asyncio loop.

paho's own loops cost throughput: ``loop_start`` puts the socket on a second thread (GIL ping-pong
and a wake-up pipe on every publish), and ``loop_forever`` owns the thread. Instead the socket is
registered with the asyncio loop (``add_reader``/``add_writer``) and paho's ``loop_read``,
``loop_write`` and ``loop_misc`` are called from there, so one thread serves the socket and the
handlers. Every paho callback runs on that thread and only records or enqueues: nothing a handler
does can raise into paho (an exception there would stop its processing).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import select
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from routemq_runtime.transport import paho_speedups
from routemq_runtime.transport.backoff import backoff_delay

if TYPE_CHECKING:
    from routemq_runtime.config import Config

log = logging.getLogger("routemq.transport")

# CONNACK reasons that no retry can fix: the slot exits so that its supervisor (and the operator)
# sees the problem instead of a worker that silently never becomes ready.
_FATAL_CONNACK = frozenset(
    {
        "Unsupported protocol version",
        "Client identifier not valid",
        "Bad user name or password",
        "Not authorized",
        "Banned",
        "Bad authentication method",
    }
)

# How many packets one readable event may process before the loop gets a turn (timers, handlers).
_READ_BUDGET = 512
# Upper bound of one keep-alive read while paused: more than a socket buffer holds.
_FORCED_READ_LIMIT = 200_000


@dataclass(frozen=True)
class Subscription:
    """A filter as sent to the broker (``$share/...`` included) and its QoS."""

    topic_filter: str
    qos: int = 0


class TransportError(RuntimeError):
    """The broker refused this client in a way retrying cannot fix."""


def _guarded(callback: Callable[..., None]) -> Callable[..., None]:
    """paho callbacks must not raise: an exception would unwind through paho mid-packet."""

    @functools.wraps(callback)
    def guarded(*args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("internal error in %s", callback.__name__)

    return guarded


def protocol_of(name: str) -> int:
    if name in ("5", "5.0", "MQTTv5"):
        return mqtt.MQTTv5
    if name in ("3.1.1", "311", "MQTTv311"):
        return mqtt.MQTTv311
    raise ValueError(f"MQTT_PROTOCOL={name!r} is not supported (use '5' or '3.1.1')")


class MqttTransport:
    """Connects, keeps a persistent session, (re)subscribes, hands messages over, acks, publishes.

    ``on_message(msg)`` is called on the loop thread for every PUBLISH received, with paho's
    ``MQTTMessage``; QoS 1/2 messages must later be passed to :meth:`ack`. ``on_ready(ready)`` is
    called with True once connected and subscribed and with False when the connection is lost;
    ``on_connection_lost()`` when an accepted connection is gone (the broker redelivers whatever
    was not acked, so acks still owed on the old connection must be dropped).
    """

    def __init__(
        self,
        config: Config,
        client_id: str,
        subscriptions: Sequence[Subscription],
        on_message: Callable[[mqtt.MQTTMessage], None],
        *,
        receive_maximum: int | None = None,
        on_ready: Callable[[bool], None] | None = None,
        on_connection_lost: Callable[[], None] | None = None,
        reconnect_base_delay: float = 0.5,
        reconnect_max_delay: float = 30.0,
    ) -> None:
        self.config = config
        self.client_id = client_id
        self.subscriptions = tuple(subscriptions)
        self.protocol = protocol_of(str(config.mqtt_protocol))
        if self.protocol == mqtt.MQTTv5:
            paho_speedups.install()
        self.receive_maximum = receive_maximum
        self._on_message_cb = on_message
        self._on_ready_cb = on_ready
        self._on_lost_cb = on_connection_lost
        self._reconnect_base = reconnect_base_delay
        self._reconnect_max = reconnect_max_delay

        self.connected = False
        self.subscribed = False
        self.received = 0
        self.reconnects = 0
        self.fatal_error: TransportError | None = None
        self.reading_paused = False
        self._paused_since = 0.0
        # Well inside the keep-alive, so a PINGRESP is read before paho gives up on it.
        self._max_pause = max(1.0, int(config.mqtt_keepalive) / 3)

        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._client = self._make_client()
        self._sock: Any = None
        self._misc_timer: asyncio.TimerHandle | None = None
        self._reconnect_timer: asyncio.TimerHandle | None = None
        self._connect_attempt = 0
        self._ever_connected = False
        self._stopping = False
        self._subscribe_mid: int | None = None
        self._ready_event: asyncio.Event | None = None
        self._closed_event: asyncio.Event | None = None
        self._pending_confirm: dict[int, asyncio.Future[None]] = {}
        self._barrier_waiters: dict[int, asyncio.Future[None]] = {}

    # -- setup ---------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        v5 = self.protocol == mqtt.MQTTv5
        # 3.1.1 keeps the session across restarts with clean_session=False; MQTT 5 does the same
        # with clean_start=False plus a session expiry, given at connect time.
        client = self._base_client(clean_session=None if v5 else False, manual_ack=True)
        # Outgoing QoS 1 publishes (dead letters, handler publishes) may all be in flight at once.
        client.max_inflight_messages_set(max(20, self.receive_maximum or 0))
        paho_log = logging.getLogger("routemq.paho")
        if paho_log.isEnabledFor(logging.DEBUG):
            # Off otherwise: paho logs twice per packet, which costs ~10% of the receive path.
            # Connection failures are reported by this module from paho's return codes.
            client.enable_logger(paho_log)

        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        return client

    def _base_client(self, *, clean_session: bool | None, manual_ack: bool) -> mqtt.Client:
        config = self.config
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=clean_session,
            protocol=self.protocol,
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

    def _connect_properties(self) -> Properties | None:
        if self.protocol != mqtt.MQTTv5:
            return None
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = int(self.config.mqtt_session_expiry)
        if self.receive_maximum:
            props.ReceiveMaximum = int(self.receive_maximum)
        return props

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting; retries with backoff until connected or :meth:`close` is called."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._ready_event = asyncio.Event()
        self._closed_event = asyncio.Event()
        self._closed_event.set()
        self._attempt_connect()

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until connected and subscribed (raises :class:`TransportError` if refused)."""
        assert self._ready_event is not None, "start() first"
        await asyncio.wait_for(self._ready_event.wait(), timeout)
        if self.fatal_error:
            raise self.fatal_error

    async def close(self, timeout: float = 5.0, *, forget_session: bool = False) -> None:
        """Wait for outgoing QoS>0 publishes to be confirmed and for the broker to have taken
        every ack, then DISCONNECT cleanly; all of it within ``timeout`` seconds.

        The session stays on the broker (its expiry is unchanged), so a restarted client with the
        same id gets what was queued for it meanwhile; unless ``forget_session``, which ends it
        (MQTT 5: session expiry 0 on DISCONNECT; 3.1.1: a clean-session connect afterwards).
        """
        assert self._loop is not None, "start() first"
        loop = self._loop
        deadline = loop.time() + timeout

        def left() -> float:
            return max(0.05, deadline - loop.time())

        self._stopping = True
        if self._reconnect_timer:
            self._reconnect_timer.cancel()
            self._reconnect_timer = None
        if self._pending_confirm and self.connected:
            await asyncio.wait(list(self._pending_confirm.values()), timeout=left())
        if self.connected:
            await self.barrier(left())
        assert self._closed_event is not None
        if self._sock is not None:
            self._closed_event.clear()
            # Whatever the broker sent meanwhile is read first: closing a socket with unread
            # data makes the kernel reset the connection instead of closing it.
            self._read_everything_buffered()
            if self._sock is not None:
                properties = None
                if forget_session and self.protocol == mqtt.MQTTv5:
                    properties = Properties(PacketTypes.DISCONNECT)
                    properties.SessionExpiryInterval = 0
                    forget_session = False
                self._client.disconnect(properties=properties)
                self._client.loop_write()
            try:
                await asyncio.wait_for(self._closed_event.wait(), left())
            except TimeoutError:
                log.warning("broker did not take the DISCONNECT in %.1fs; closing", timeout)
                self._drop_socket()
        self._stop_misc()
        for fut in self._pending_confirm.values():
            if not fut.done():
                fut.set_exception(ConnectionError("transport closed before the broker confirmed"))
        self._pending_confirm.clear()
        if forget_session:
            await loop.run_in_executor(None, self._end_session, left())

    def _end_session(self, timeout: float) -> None:
        """Connect once with a clean session and leave: the broker drops the stored one."""
        client = self._base_client(clean_session=True, manual_ack=False)
        done = threading.Event()
        client.on_connect = lambda *args: done.set()
        try:
            client.connect(self.config.mqtt_broker, int(self.config.mqtt_port), keepalive=10)
            deadline = time.monotonic() + timeout
            while not done.is_set() and time.monotonic() < deadline:
                client.loop(0.05)
            client.disconnect()
            client.loop(0.05)
        except (OSError, ssl.SSLError) as exc:
            log.warning("could not end the broker session of %r: %s", self.client_id, exc)
            return
        if not done.is_set():
            log.warning("could not end the broker session of %r: no CONNACK", self.client_id)

    async def unsubscribe_all(self, timeout: float) -> bool:
        """Leave every subscription (and do not take them up again on a reconnect). Messages the
        broker already queued for this session still arrive. False if the broker did not
        confirm in time."""
        assert self._loop is not None
        filters = [s.topic_filter for s in self.subscriptions]
        self.subscriptions = ()
        self._set_ready(False)
        if not filters or not self.connected:
            return not filters
        result, mid = self._client.unsubscribe(filters)
        if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
            return False
        return await self._wait_unsuback(mid, timeout)

    async def barrier(self, timeout: float) -> bool:
        """Return once the broker has processed everything sent so far (the PUBACKs above all).

        Brokers handle a client's packets in order, so the reply to an UNSUBSCRIBE of a filter
        this client never subscribed to (harmless; "no subscription existed" on MQTT 5) proves
        the acks before it were taken. Without it, acks written just before the DISCONNECT can be
        lost: if the broker meanwhile sent more messages, closing the socket with that data
        unread resets the connection, and the broker may drop what it had not read yet.
        """
        result, mid = self._client.unsubscribe(f"$routemq-barrier/{self.client_id}")
        if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
            return False
        if await self._wait_unsuback(mid, timeout):
            return True
        log.warning("no UNSUBACK within %.1fs; the last acks may be redelivered", timeout)
        return False

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

    # -- connecting ----------------------------------------------------------------------------

    def _attempt_connect(self) -> None:
        self._reconnect_timer = None
        if self._stopping:
            return
        self._connect_attempt += 1
        config = self.config
        try:
            # A blocking TCP connect (and TLS handshake): nothing else could make progress
            # without the connection anyway, and paho offers no non-blocking connect.
            if self._ever_connected or self._connect_attempt > 1:
                self._client.reconnect()
            else:
                v5 = self.protocol == mqtt.MQTTv5
                self._client.connect(
                    config.mqtt_broker,
                    int(config.mqtt_port),
                    keepalive=int(config.mqtt_keepalive),
                    clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                    properties=self._connect_properties(),
                )
        except (OSError, ssl.SSLError) as exc:
            self._drop_socket()
            self._schedule_reconnect(f"connect to {config.mqtt_broker}:{config.mqtt_port}: {exc}")
            return
        self._start_misc()

    def _schedule_reconnect(self, why: str) -> None:
        if self._stopping or self.fatal_error or self._reconnect_timer is not None:
            return
        assert self._loop is not None
        # The first retry after a lost connection uses the base delay.
        attempt = max(1, self._connect_attempt)
        delay = backoff_delay(attempt, self._reconnect_base, self._reconnect_max)
        log.warning("%s; reconnecting in %.2fs (attempt %d)", why, delay, attempt)
        self._reconnect_timer = self._loop.call_later(delay, self._attempt_connect)

    def reset_connection(self, why: str) -> None:
        """Disconnect and reconnect to the same session: the broker then redelivers every
        unacknowledged message, which unblocks an ack queue stuck behind a lost message."""
        if self._stopping or not self.connected:
            return
        log.warning("%s; reconnecting so the broker redelivers unacknowledged messages", why)
        self._client.disconnect()

    def _fail(self, error: TransportError) -> None:
        log.error("%s", error)
        self.fatal_error = error
        self._stopping = True
        if self._ready_event:
            self._ready_event.set()
        if self._sock is not None:
            self._client.disconnect()

    # -- socket plumbing (paho -> asyncio) -----------------------------------------------------

    @_guarded
    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._sock = sock
        if self._closed_event:
            self._closed_event.clear()
        # A new connection starts reading; the consumer pauses again if it still has too much.
        self.reading_paused = False
        self._loop.add_reader(sock, self._on_readable)

    @_guarded
    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        if self._sock is sock:
            self._sock = None
        if self._closed_event:
            self._closed_event.set()

    @_guarded
    def _on_socket_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.add_writer(sock, self._on_writable)

    @_guarded
    def _on_socket_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_writer(sock)

    def _on_readable(self) -> None:
        client = self._client
        # paho reads one packet per loop_read() when it has nothing in flight; keep reading while
        # messages keep coming so a backlog is drained without a loop turn per message.
        for _ in range(_READ_BUDGET):
            before = self.received
            if client.loop_read() or self._sock is None:
                return
            if self.received == before or self.reading_paused:
                break
        sock = self._sock
        # TLS may hold decrypted bytes that the selector cannot see.
        if sock is not None and hasattr(sock, "pending") and sock.pending():
            assert self._loop is not None
            self._loop.call_soon(self._on_readable)

    def _on_writable(self) -> None:
        self._client.loop_write()

    def _start_misc(self) -> None:
        if self._misc_timer is None and self._loop is not None:
            self._misc_timer = self._loop.call_later(1.0, self._misc_tick)

    def _stop_misc(self) -> None:
        if self._misc_timer is not None:
            self._misc_timer.cancel()
            self._misc_timer = None

    def _misc_tick(self) -> None:
        self._misc_timer = None
        if self._sock is not None:
            if self.reading_paused and time.monotonic() - self._paused_since > self._max_pause:
                self._read_everything_buffered()
            # Keep-alive pings and the ping-timeout check.
            self._client.loop_misc()
        if self._sock is not None or not self._stopping:
            self._start_misc()

    # -- flow control --------------------------------------------------------------------------
    # Brokers do not always hold back what a client cannot take yet (mosquitto 2.0 sends a whole
    # queued backlog on reconnect regardless of ReceiveMaximum / max_inflight_messages), so the
    # consumer pauses reading when it holds too many unfinished messages. TCP then pushes back.

    def pause_reading(self) -> None:
        # A publish waiting for its PUBACK (a dead letter) needs reading, or the message behind
        # it is never finished and reading never resumes.
        if self.reading_paused or self._pending_confirm:
            return
        self.reading_paused = True
        self._paused_since = time.monotonic()
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock)

    def resume_reading(self) -> None:
        if not self.reading_paused:
            return
        self.reading_paused = False
        if self._sock is not None and self._loop is not None:
            self._loop.add_reader(self._sock, self._on_readable)

    def _read_everything_buffered(self) -> None:
        """A long pause would starve the keep-alive (the PINGRESP waits behind the backlog in the
        socket buffer), so now and then read all that is buffered, then pause again."""
        self._paused_since = time.monotonic()
        client = self._client
        for _ in range(_FORCED_READ_LIMIT):
            sock = self._sock
            if sock is None:
                return
            pending = sock.pending() if hasattr(sock, "pending") else 0
            if not pending and not select.select([sock], [], [], 0)[0]:
                return
            if client.loop_read():
                return

    def _drop_socket(self) -> None:
        sock = self._sock
        if sock is not None and self._loop is not None:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
            with contextlib.suppress(OSError):
                sock.close()
        self._sock = None
        if self._closed_event:
            self._closed_event.set()

    # -- paho callbacks (loop thread; they only record and enqueue) ----------------------------

    @_guarded
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
            if reason in _FATAL_CONNACK:
                self._fail(TransportError(f"broker refused client {self.client_id!r}: {reason}"))
            else:
                log.warning("broker refused the connection: %s", reason)
            return
        self.connected = True
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        self._connect_attempt = 0
        log.info(
            "connected to %s:%s as %r (session present: %s)",
            self.config.mqtt_broker,
            self.config.mqtt_port,
            self.client_id,
            flags.session_present,
        )
        if not self.subscriptions:
            self._set_ready(True)
            return
        if self.protocol == mqtt.MQTTv5:
            # Retained messages only for a subscription that is new, not on every reconnect.
            topics: list[tuple[str, Any]] = [
                (s.topic_filter, SubscribeOptions(qos=s.qos, retainHandling=1))
                for s in self.subscriptions
            ]
        else:
            topics = [(s.topic_filter, s.qos) for s in self.subscriptions]
        result, mid = client.subscribe(topics)
        if result != mqtt.MQTT_ERR_SUCCESS:
            log.warning("SUBSCRIBE could not be sent: %s", mqtt.error_string(result))
        self._subscribe_mid = mid

    @_guarded
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
        self._set_ready(True)

    @_guarded
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

    @_guarded
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
        self._set_ready(False)
        if self._closed_event and self._sock is None:
            self._closed_event.set()
        if was_connected and self._on_lost_cb is not None:
            try:
                self._on_lost_cb()
            except Exception:
                log.exception("connection-lost callback failed")
        if self._stopping:
            return
        if was_connected:
            log.warning("connection lost: %s", reason_code)
        self._schedule_reconnect(f"disconnected ({reason_code})")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.received += 1
        try:
            self._on_message_cb(message)
        except Exception:  # never into paho: its read loop would stop on it
            log.exception("message callback failed for mid %s", message.mid)

    @_guarded
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

    def _set_ready(self, ready: bool) -> None:
        changed = ready != self.subscribed
        self.subscribed = ready
        if self._ready_event is not None:
            if ready:
                self._ready_event.set()
            elif not self.fatal_error:
                self._ready_event.clear()
        if changed and self._on_ready_cb is not None:
            try:
                self._on_ready_cb(ready)
            except Exception:
                log.exception("ready callback failed")

    # -- operations ----------------------------------------------------------------------------

    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self._loop_thread

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

    def build_properties(self, user_properties: Sequence[tuple[str, str]]) -> Properties | None:
        """PUBLISH properties carrying user properties (MQTT 5 only; None on 3.1.1)."""
        if self.protocol != mqtt.MQTTv5:
            return None
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = list(user_properties)
        return props
