"""The socket bridge without a broker: a socket pair stands in for the connection and a fake
client for paho, so reading, pausing and resuming are seen from the loop's side."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from routemq_runtime.transport.bridge import SocketBridge
from tests.support.polling import until


class ReadingClient:
    """Reads one byte per ``loop_read`` (one 'packet'); counts them as received messages."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.received = 0
        self.misc = 0

    def loop_read(self) -> int:
        assert self.sock is not None
        try:
            if self.sock.recv(1):
                self.received += 1
        except BlockingIOError:
            pass
        return 0

    def loop_write(self) -> int:
        return 0

    def loop_misc(self) -> int:
        self.misc += 1
        return 0


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())


def open_bridge() -> tuple[SocketBridge, ReadingClient, socket.socket]:
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    client = ReadingClient()
    client.sock = ours
    bridge = SocketBridge(
        client,  # type: ignore[arg-type]
        asyncio.get_running_loop(),
        keepalive=60,
        received=lambda: client.received,
        keep_ticking=lambda: True,
    )
    client.on_socket_open(client, None, ours)  # type: ignore[attr-defined]
    return bridge, client, broker


def test_a_backlog_is_read_in_one_go_and_a_pause_stops_reading() -> None:
    async def scenario() -> None:
        bridge, client, broker = open_bridge()
        broker.sendall(b"x" * 100)
        await until(lambda: client.received == 100)
        bridge.pause_reading()
        broker.sendall(b"y" * 10)
        await asyncio.sleep(0.05)
        assert client.received == 100  # TCP holds them back while paused
        bridge.resume_reading()
        await until(lambda: client.received == 110)
        broker.close()

    run(scenario)


def test_a_long_pause_still_reads_what_is_buffered_for_the_keep_alive() -> None:
    async def scenario() -> None:
        bridge, client, broker = open_bridge()
        bridge.pause_reading()
        broker.sendall(b"z" * 5)
        await asyncio.sleep(0.02)
        assert client.received == 0
        bridge.read_everything_buffered()  # what housekeeping does after a long pause
        assert client.received == 5 and bridge.reading_paused
        broker.close()

    run(scenario)


def test_closing_the_socket_stops_watching_it() -> None:
    async def scenario() -> None:
        bridge, client, broker = open_bridge()
        assert not bridge.closed.is_set()
        sock = bridge.sock
        client.on_socket_close(client, None, sock)  # type: ignore[attr-defined]
        assert bridge.sock is None and bridge.closed.is_set()
        broker.sendall(b"late")
        await asyncio.sleep(0.02)
        assert client.received == 0
        sock.close()
        broker.close()

    run(scenario)
