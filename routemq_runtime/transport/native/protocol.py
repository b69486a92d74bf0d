"""One TCP (or TLS) connection to the broker as an :class:`asyncio.Protocol`.

Bytes go to the session's :class:`~routemq_runtime.transport.native.reader.PacketReader`;
acknowledgements collect during a loop turn and leave in one write. When the consumer paused
decoding, received bytes are still taken up to :data:`PAUSED_BUFFER` (so a PINGRESP is seen
behind a backlog), then the socket is paused and TCP pushes back.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from typing import TYPE_CHECKING, Any

from routemq_runtime.transport.native.codec import MalformedPacket

if TYPE_CHECKING:
    from routemq_runtime.transport.native.reader import PacketReader

log = logging.getLogger("routemq.transport")

#: Bytes held undecoded while the consumer has paused, before the socket is paused too.
PAUSED_BUFFER = 1 << 20


class Owner:
    """What a connection reports to (the transport)."""

    reader: PacketReader

    def on_violation(self, protocol: MqttProtocol, error: MalformedPacket) -> None: ...

    def on_closed(self, protocol: MqttProtocol, error: BaseException | None) -> None: ...


class MqttProtocol(asyncio.Protocol):
    def __init__(self, owner: Owner, loop: asyncio.AbstractEventLoop) -> None:
        self.owner = owner
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = loop.create_future()
        self.socket_paused = False
        self.last_read = self.last_write = time.monotonic()
        # PUBACK/PUBREC packets owed, each as one 32-bit word (type, length 2, packet id).
        self._acks: list[int] = []
        self._flush_due = False

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.owner.reader.reset()

    def data_received(self, data: bytes) -> None:
        self.last_read = time.monotonic()
        reader = self.owner.reader
        try:
            reader.feed(data)
        except MalformedPacket as error:
            self.owner.on_violation(self, error)
            return
        except Exception:
            # Never expected (the consumer only queues); the broker redelivers what was not
            # acknowledged to the next connection.
            log.exception("could not take a received packet; reconnecting")
            self.abort()
            return
        if reader.paused and not self.socket_paused and reader.buffered > PAUSED_BUFFER:
            self.socket_paused = True
            if self.transport is not None:
                self.transport.pause_reading()

    def eof_received(self) -> bool:
        return False  # the broker closed its side: close ours

    def connection_lost(self, exc: Exception | None) -> None:
        self._acks.clear()
        if not self.closed.done():
            self.closed.set_result(None)
        self.owner.on_closed(self, exc)

    # -- reading -------------------------------------------------------------------------------

    def resume(self) -> None:
        """Decode what is buffered and take the socket up again."""
        if self.socket_paused and self.transport is not None:
            self.socket_paused = False
            self.transport.resume_reading()
        try:
            self.owner.reader.resume()
        except MalformedPacket as error:
            self.owner.on_violation(self, error)

    # -- writing -------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Write a packet now, after the acknowledgements owed (brokers take packets in order)."""
        if self.transport is None or self.transport.is_closing():
            return
        if self._acks:
            self.flush()
        self.transport.write(data)
        self.last_write = time.monotonic()

    def ack(self, word: int) -> None:
        """Owe one PUBACK/PUBREC; those of a loop turn leave together."""
        self._acks.append(word)
        if not self._flush_due:
            self._flush_due = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_due = False
        acks = self._acks
        if not acks or self.transport is None or self.transport.is_closing():
            acks.clear()
            return
        self.transport.write(struct.pack(f">{len(acks)}I", *acks))
        acks.clear()
        self.last_write = time.monotonic()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.flush()
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def __repr__(self) -> str:
        peer: Any = self.transport.get_extra_info("peername") if self.transport else None
        return f"MqttProtocol({peer})"
