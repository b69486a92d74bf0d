"""A scripted MQTT broker for transport tests, and the wire format written out by hand.

The encoders and the parser here follow the MQTT 3.1.1 and 5 specifications directly and share
no code with the client under test, so a mistake in the client's codec cannot hide itself by
producing the expected bytes too.

:class:`FakeBroker` listens on 127.0.0.1 (a free port) and answers nothing by itself: a test
takes each connection, reads what the client sent packet by packet and writes the answers it
wants, malformed ones included. Every read is kept as it arrived, so a test can tell how the
client's writes were grouped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = range(8, 15)

# -- encoding -----------------------------------------------------------------------------------


def vbi(value: int) -> bytes:
    """A variable byte integer, least significant group first."""
    out = bytearray()
    while True:
        digit = value & 0x7F
        value >>= 7
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def utf8(value: str) -> bytes:
    raw = value.encode("utf-8")
    return len(raw).to_bytes(2, "big") + raw


def blob(value: bytes) -> bytes:
    return len(value).to_bytes(2, "big") + value


def frame(first: int, body: bytes) -> bytes:
    return bytes([first]) + vbi(len(body)) + body


def prop_block(*items: bytes) -> bytes:
    """MQTT 5 properties: their total length, then each (identifier and value) as given."""
    joined = b"".join(items)
    return vbi(len(joined)) + joined


# One property each: the identifier byte, then the value in its wire type.
def p_payload_format(value: int) -> bytes:
    return b"\x01" + bytes([value])


def p_message_expiry(seconds: int) -> bytes:
    return b"\x02" + seconds.to_bytes(4, "big")


def p_content_type(value: str) -> bytes:
    return b"\x03" + utf8(value)


def p_response_topic(value: str) -> bytes:
    return b"\x08" + utf8(value)


def p_correlation_data(value: bytes) -> bytes:
    return b"\x09" + blob(value)


def p_subscription_id(value: int) -> bytes:
    return b"\x0b" + vbi(value)


def p_assigned_client_id(value: str) -> bytes:
    return b"\x12" + utf8(value)


def p_server_keep_alive(seconds: int) -> bytes:
    return b"\x13" + seconds.to_bytes(2, "big")


def p_reason_string(value: str) -> bytes:
    return b"\x1f" + utf8(value)


def p_receive_maximum(value: int) -> bytes:
    return b"\x21" + value.to_bytes(2, "big")


def p_topic_alias(value: int) -> bytes:
    return b"\x23" + value.to_bytes(2, "big")


def p_user_property(key: str, value: str) -> bytes:
    return b"\x26" + utf8(key) + utf8(value)


def connack(code: int = 0, *, session_present: bool = False, v5: bool, props: bytes = b"") -> bytes:
    body = bytes([int(session_present), code])
    if v5:
        body += prop_block(props) if props else b"\x00"
    return frame(CONNACK << 4, body)


def publish(
    topic: str,
    payload: bytes = b"",
    *,
    qos: int = 0,
    pid: int = 0,
    retain: bool = False,
    dup: bool = False,
    v5: bool,
    props: bytes = b"",
) -> bytes:
    first = PUBLISH << 4 | int(dup) << 3 | qos << 1 | int(retain)
    body = utf8(topic) + (pid.to_bytes(2, "big") if qos else b"")
    if v5:
        body += prop_block(props) if props else b"\x00"
    return frame(first, body + payload)


def ack(kind: int, pid: int, *, reason: int | None = None, props: bytes | None = None) -> bytes:
    """PUBACK/PUBREC/PUBREL/PUBCOMP: the short form, or (MQTT 5) with a reason and properties."""
    body = pid.to_bytes(2, "big")
    if reason is not None:
        body += bytes([reason])
        if props is not None:
            body += prop_block(props)
    return frame(kind << 4 | (2 if kind == PUBREL else 0), body)


def suback(pid: int, codes: list[int], *, v5: bool, kind: int = SUBACK) -> bytes:
    return frame(kind << 4, pid.to_bytes(2, "big") + (b"\x00" if v5 else b"") + bytes(codes))


def unsuback(pid: int, codes: list[int], *, v5: bool) -> bytes:
    return suback(pid, codes if v5 else [], v5=v5, kind=UNSUBACK)


PINGRESP_PACKET = b"\xd0\x00"


def disconnect(reason: int = 0, *, props: bytes = b"") -> bytes:
    return frame(DISCONNECT << 4, bytes([reason]) + (prop_block(props) if props else b""))


# -- decoding what the client sent --------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    first: int
    body: bytes

    @property
    def kind(self) -> int:
        return self.first >> 4

    @property
    def flags(self) -> int:
        return self.first & 0x0F

    @property
    def pid(self) -> int:
        """The packet id of an ack, SUBSCRIBE or UNSUBSCRIBE (the first two body bytes)."""
        return int.from_bytes(self.body[:2], "big")

    @property
    def raw(self) -> bytes:
        return frame(self.first, self.body)


def split_packets(buffer: bytes) -> tuple[list[Packet], bytes]:
    """The whole packets at the start of ``buffer`` and the incomplete rest."""
    packets = []
    pos = 0
    while pos + 2 <= len(buffer):
        length = shift = 0
        i = pos + 1
        while i < len(buffer):
            length |= (buffer[i] & 0x7F) << shift
            shift += 7
            i += 1
            if buffer[i - 1] < 0x80:
                break
        else:
            break
        if i + length > len(buffer):
            break
        packets.append(Packet(buffer[pos], buffer[i : i + length]))
        pos = i + length
    return packets, buffer[pos:]


def read_vbi(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def read_utf8(data: bytes, pos: int) -> tuple[str, int]:
    size = int.from_bytes(data[pos : pos + 2], "big")
    return data[pos + 2 : pos + 2 + size].decode(), pos + 2 + size


@dataclass(frozen=True)
class Connect:
    protocol: str
    level: int
    flags: int
    keepalive: int
    properties: dict[int, int]
    client_id: str
    username: str | None
    password: bytes | None


# Fixed-size integer properties of CONNECT: identifier -> size in bytes.
_CONNECT_INTS = {0x11: 4, 0x21: 2, 0x27: 4, 0x22: 2, 0x19: 1, 0x17: 1}


def parse_connect(body: bytes) -> Connect:
    protocol, pos = read_utf8(body, 0)
    level, flags = body[pos], body[pos + 1]
    keepalive = int.from_bytes(body[pos + 2 : pos + 4], "big")
    pos += 4
    properties: dict[int, int] = {}
    if level == 5:
        length, pos = read_vbi(body, pos)
        end = pos + length
        while pos < end:
            ident = body[pos]
            size = _CONNECT_INTS[ident]  # a KeyError: a property this parser was not told of
            properties[ident] = int.from_bytes(body[pos + 1 : pos + 1 + size], "big")
            pos += 1 + size
    client_id, pos = read_utf8(body, pos)
    assert not flags & 0x04, "no will expected"
    username = password = None
    if flags & 0x80:
        username, pos = read_utf8(body, pos)
    if flags & 0x40:
        size = int.from_bytes(body[pos : pos + 2], "big")
        password, pos = body[pos + 2 : pos + 2 + size], pos + 2 + size
    assert pos == len(body), "bytes after the CONNECT payload"
    return Connect(protocol, level, flags, keepalive, properties, client_id, username, password)


def parse_publish(packet: Packet, *, v5: bool) -> tuple[str, int, bytes]:
    """(topic, packet id or 0, payload) of a PUBLISH the client sent."""
    topic, pos = read_utf8(packet.body, 0)
    pid = 0
    if packet.flags & 0x06:
        pid, pos = int.from_bytes(packet.body[pos : pos + 2], "big"), pos + 2
    if v5:
        length, pos = read_vbi(packet.body, pos)
        pos += length
    return topic, pid, packet.body[pos:]


# -- the broker -----------------------------------------------------------------------------------


class BrokerConnection(asyncio.Protocol):
    """One client connection as the broker sees it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        #: Each read as the socket returned it.
        self.reads: list[bytes] = []
        self.received: list[Packet] = []
        self.closed = asyncio.get_running_loop().create_future()
        self._rest = b""
        self._arrived = asyncio.Event()
        self._read: set[int] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reads.append(data)
        packets, self._rest = split_packets(self._rest + data)
        self.received.extend(packets)
        self._arrived.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self._arrived.set()

    async def next(self, timeout: float = 2.0) -> Packet:
        """The next packet the client sent (each once, in order)."""
        return await self._first(lambda packet: True, timeout)

    async def take(self, kind: int, timeout: float = 2.0) -> Packet:
        """The first packet of ``kind`` not read yet, leaving those before it to :meth:`next`."""
        return await self._first(lambda packet: packet.kind == kind, timeout)

    async def _first(self, wanted: Callable[[Packet], bool], timeout: float) -> Packet:
        async with asyncio.timeout(timeout):
            while True:
                for index in range(len(self.received)):
                    if index not in self._read and wanted(self.received[index]):
                        self._read.add(index)
                        return self.received[index]
                if self.closed.done():
                    raise ConnectionError("the client closed the connection")
                self._arrived.clear()
                await self._arrived.wait()

    async def expect(self, kind: int, timeout: float = 2.0) -> Packet:
        packet = await self.next(timeout)
        assert packet.kind == kind, f"expected packet type {kind}, got {packet}"
        return packet

    async def silent(self, seconds: float) -> None:
        """Nothing more arrives within ``seconds``."""
        with contextlib.suppress(TimeoutError, ConnectionError):
            packet = await self.next(seconds)
            raise AssertionError(f"unexpected {packet}")

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class FakeBroker:
    """Accepts connections on 127.0.0.1 and hands each to the test (see :meth:`accept`)."""

    def __init__(self) -> None:
        self.connections: list[BrokerConnection] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._queue: asyncio.Queue[BrokerConnection] = asyncio.Queue()

    async def __aenter__(self) -> FakeBroker:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for connection in self.connections:
            connection.abort()
        await self._server.wait_closed()

    def _new(self) -> BrokerConnection:
        connection = BrokerConnection()
        self.connections.append(connection)
        self._queue.put_nowait(connection)
        return connection

    async def accept(self, timeout: float = 2.0) -> BrokerConnection:
        """The next connection a client opened."""
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def handshake(
        self,
        *,
        v5: bool,
        session_present: bool = False,
        props: bytes = b"",
        granted: list[int] | None = None,
    ) -> tuple[BrokerConnection, Connect]:
        """Accept a connection, take its CONNECT, accept it, and answer the SUBSCRIBE with
        ``granted`` (the SUBACK codes, one per filter; None: no SUBSCRIBE expected). What the
        client sent between the CONNECT and the SUBSCRIBE is left to ``next()``."""
        connection = await self.accept()
        hello = parse_connect((await connection.expect(CONNECT)).body)
        connection.send(connack(0, session_present=session_present, v5=v5, props=props))
        if granted is not None:
            subscribe = await connection.take(SUBSCRIBE)
            connection.send(suback(subscribe.pid, granted, v5=v5))
        return connection, hello
