"""What both MQTT clients of a worker slot share (``MQTT_TRANSPORT=native`` and ``paho``): the
state as the connection state machine knows it, readiness, the barrier, leaving every filter
and the clean close. Each client adds how it sends and receives."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from routemq_runtime.transport.connection import Connection, Subscription, TransportError
from routemq_runtime.transport.paho_client import end_session

if TYPE_CHECKING:
    from routemq_runtime.config import Config

log = logging.getLogger("routemq.transport")


class SlotClient:
    config: Config
    client_id: str
    v5: bool
    _connection: Connection
    _loop: asyncio.AbstractEventLoop | None = None
    _loop_thread: int | None = None

    # -- what each client does -----------------------------------------------------------------

    async def _unsubscribe(self, filters: list[str], timeout: float) -> bool:
        """Send UNSUBSCRIBE and wait for its UNSUBACK; False when none came in time."""
        raise NotImplementedError

    def _unconfirmed(self) -> list[asyncio.Future[None]]:
        """Publishes the broker has not confirmed yet."""
        raise NotImplementedError

    async def _disconnect(self, timeout: float, *, expire: bool) -> None:
        """Send DISCONNECT (``expire``: ending the session, MQTT 5) and wait for the close."""
        raise NotImplementedError

    def _closed(self) -> None:
        """After the connection is gone for good: fail what was not confirmed."""
        raise NotImplementedError

    def resume_reading(self) -> None:
        raise NotImplementedError

    # -- state ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connection.connected

    @property
    def subscribed(self) -> bool:
        return self._connection.subscribed

    @property
    def reconnects(self) -> int:
        return self._connection.reconnects

    @property
    def fatal_error(self) -> TransportError | None:
        return self._connection.fatal_error

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return self._connection.subscriptions

    def _take_loop(self) -> asyncio.AbstractEventLoop:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        return self._loop

    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self._loop_thread

    # -- lifecycle -----------------------------------------------------------------------------

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until connected and subscribed (raises :class:`TransportError` if refused)."""
        assert self._loop is not None, "start() first"
        await asyncio.wait_for(self._connection.ready.wait(), timeout)
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
        left = _seconds_left(self._loop, timeout)
        self._connection.stop()
        unconfirmed = self._unconfirmed()
        if unconfirmed and self.connected:
            self.resume_reading()  # the confirmations are behind what the broker sent
            await asyncio.wait(unconfirmed, timeout=left())
        if self.connected:
            await self.barrier(left())
        # MQTT 5 ends the session with the DISCONNECT itself; 3.1.1 needs a second connection.
        end_later = forget_session and not self.v5
        await self._disconnect(left(), expire=forget_session and not end_later)
        self._closed()
        if end_later:
            await self._loop.run_in_executor(None, end_session, self.config, self.client_id, left())

    async def unsubscribe_all(self, timeout: float) -> bool:
        """Leave every subscription (and do not take them up again on a reconnect). Messages the
        broker already queued for this session still arrive. False if the broker did not
        confirm in time."""
        filters = [s.topic_filter for s in self.subscriptions]
        self._connection.subscriptions = ()
        self._connection.set_ready(False)
        if not filters or not self.connected:
            return not filters
        return await self._unsubscribe(filters, timeout)

    async def barrier(self, timeout: float) -> bool:
        """Return once the broker has processed everything sent so far (the acks above all).

        Brokers handle a client's packets in order, so the reply to an UNSUBSCRIBE of a filter
        this client never subscribed to (harmless; "no subscription existed" on MQTT 5) proves
        the acks before it were taken. Without it, acks written just before the DISCONNECT can be
        lost: if the broker meanwhile sent more messages, closing the socket with that data
        unread resets the connection, and the broker may drop what it had not read yet.
        """
        if self.connected and await self._unsubscribe(
            [f"$routemq-barrier/{self.client_id}"], timeout
        ):
            return True
        log.warning("no UNSUBACK within %.1fs; the last acks may be redelivered", timeout)
        return False

    def reset_connection(self, why: str) -> None:
        """Reconnect to the same session so the broker redelivers every unacked message."""
        self._connection.reset(why)

    def build_properties(self, user_properties: Sequence[tuple[str, str]]) -> Properties | None:
        """PUBLISH properties carrying user properties (MQTT 5 only; None on 3.1.1)."""
        if not self.v5:
            return None
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = list(user_properties)
        return properties


def _seconds_left(loop: asyncio.AbstractEventLoop, timeout: float) -> Callable[[], float]:
    deadline = loop.time() + timeout
    return lambda: max(0.05, deadline - loop.time())
