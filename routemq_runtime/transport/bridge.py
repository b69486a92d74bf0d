"""paho's socket driven by the running asyncio loop.

paho's own loops cost throughput: ``loop_start`` puts the socket on a second thread (GIL ping-pong
and a wake-up pipe on every publish), and ``loop_forever`` owns the thread. Instead the socket is
registered with the asyncio loop (``add_reader``/``add_writer``) and paho's ``loop_read``,
``loop_write`` and ``loop_misc`` are called from there, so one thread serves the socket and the
handlers.

Flow control lives here too: brokers do not always hold back what a client cannot take yet
(mosquitto 2.0 sends a whole queued backlog on reconnect regardless of ReceiveMaximum), so the
consumer may pause reading; TCP then pushes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import select
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

log = logging.getLogger("routemq.transport")

# How many packets one readable event may process before the loop gets a turn (timers, handlers).
READ_BUDGET = 512
# Upper bound of one keep-alive read while paused: more than a socket buffer holds.
FORCED_READ_LIMIT = 200_000
# Seconds between paho's housekeeping calls (keep-alive pings, ping timeout, retries).
MISC_INTERVAL = 1.0


def guarded(callback: Callable[..., None]) -> Callable[..., None]:
    """paho callbacks must not raise: an exception would unwind through paho mid-packet."""

    @functools.wraps(callback)
    def guard(*args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("internal error in %s", callback.__name__)

    return guard


class SocketBridge:
    """Registers paho's socket with ``loop`` and calls paho when it is readable or writable.

    ``received()`` counts messages handed over so far: a readable event keeps reading while it
    grows. ``keep_ticking()`` says whether housekeeping should go on without a socket (while
    reconnecting).
    """

    def __init__(
        self,
        client: mqtt.Client,
        loop: asyncio.AbstractEventLoop,
        *,
        keepalive: int,
        received: Callable[[], int],
        keep_ticking: Callable[[], bool],
    ) -> None:
        self.client = client
        self.loop = loop
        self.sock: Any = None
        self.reading_paused = False
        self._paused_since = 0.0
        # Well inside the keep-alive, so a PINGRESP is read before paho gives up on it.
        self._max_pause = max(1.0, int(keepalive) / 3)
        self._received = received
        self._keep_ticking = keep_ticking
        self._misc_timer: asyncio.TimerHandle | None = None
        self.closed = asyncio.Event()
        self.closed.set()
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write

    # -- paho's socket callbacks ---------------------------------------------------------------

    @guarded
    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.sock = sock
        self.closed.clear()
        # A new connection starts reading; the consumer pauses again if it still has too much.
        self.reading_paused = False
        self.loop.add_reader(sock, self._on_readable)

    @guarded
    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)
        if self.sock is sock:
            self.sock = None
        self.closed.set()

    @guarded
    def _on_socket_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.add_writer(sock, self._on_writable)

    @guarded
    def _on_socket_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.remove_writer(sock)

    # -- reading and writing -------------------------------------------------------------------

    def _on_readable(self) -> None:
        client = self.client
        # paho reads one packet per loop_read() when it has nothing in flight; keep reading while
        # messages keep coming so a backlog is drained without a loop turn per message.
        for _ in range(READ_BUDGET):
            before = self._received()
            if client.loop_read() or self.sock is None:
                return
            if self._received() == before or self.reading_paused:
                break
        sock = self.sock
        # TLS may hold decrypted bytes that the selector cannot see.
        if sock is not None and hasattr(sock, "pending") and sock.pending():
            self.loop.call_soon(self._on_readable)

    def _on_writable(self) -> None:
        self.client.loop_write()

    def pause_reading(self) -> None:
        if self.reading_paused:
            return
        self.reading_paused = True
        self._paused_since = time.monotonic()
        if self.sock is not None:
            self.loop.remove_reader(self.sock)

    def resume_reading(self) -> None:
        if not self.reading_paused:
            return
        self.reading_paused = False
        if self.sock is not None:
            self.loop.add_reader(self.sock, self._on_readable)

    def read_everything_buffered(self) -> None:
        """A long pause would starve the keep-alive (the PINGRESP waits behind the backlog in the
        socket buffer), so now and then read all that is buffered, then pause again."""
        self._paused_since = time.monotonic()
        client = self.client
        for _ in range(FORCED_READ_LIMIT):
            sock = self.sock
            if sock is None:
                return
            pending = sock.pending() if hasattr(sock, "pending") else 0
            if not pending and not select.select([sock], [], [], 0)[0]:
                return
            if client.loop_read():
                return

    def drop_socket(self) -> None:
        """Close the socket without a DISCONNECT (a failed connect, a broker that went quiet)."""
        sock = self.sock
        if sock is not None:
            self.loop.remove_reader(sock)
            self.loop.remove_writer(sock)
            with contextlib.suppress(OSError):
                sock.close()
        self.sock = None
        self.closed.set()

    # -- housekeeping --------------------------------------------------------------------------

    def start_housekeeping(self) -> None:
        if self._misc_timer is None:
            self._misc_timer = self.loop.call_later(MISC_INTERVAL, self._misc_tick)

    def stop_housekeeping(self) -> None:
        if self._misc_timer is not None:
            self._misc_timer.cancel()
            self._misc_timer = None

    def _misc_tick(self) -> None:
        self._misc_timer = None
        if self.sock is not None:
            if self.reading_paused and time.monotonic() - self._paused_since > self._max_pause:
                self.read_everything_buffered()
            # Keep-alive pings and the ping-timeout check.
            self.client.loop_misc()
        if self.sock is not None or self._keep_ticking():
            self.start_housekeeping()
