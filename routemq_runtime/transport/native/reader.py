"""Received bytes to packets: an accumulator and the PUBLISH decoder on a worker's hot path.

Most reads hold many whole packets; they are decoded by index straight from the bytes the loop
handed over (no copy of the buffer, no object per packet but the message itself). Only a packet
split across reads is joined, once, when all of it has arrived: a large packet costs one copy
however many reads it took, never a concatenation per read.

Reading can be paused between two packets (the consumer holds enough unfinished messages): the
rest stays where it is and is decoded on :meth:`PacketReader.resume`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from paho.mqtt.packettypes import PacketTypes

from routemq_runtime.message import InboundMessage
from routemq_runtime.transport.native.codec import (
    MAX_REMAINING_LENGTH,
    PACKET_TOO_LARGE,
    PINGRESP,
    PROTOCOL_ERROR,
    PUBACK,
    PUBCOMP,
    PUBREL,
    SUBACK,
    SUBSCRIBE,
    UNSUBSCRIBE,
    MalformedPacket,
    read_varint,
    varint_at,
)
from routemq_runtime.transport.paho_speedups import SharedTableProperties

# Packet types whose fixed-header flags must be 0b0010 (all others but PUBLISH: 0).
_FLAGS_TWO = frozenset({PUBREL, SUBSCRIBE, UNSUBSCRIBE})
# Answers that may be taken ahead of the messages before them while decoding is paused: the
# consumer may be waiting for one to make progress (a SUBACK for readiness, a PUBACK for a dead
# letter, a PINGRESP for the keep-alive). Never an UNSUBACK: it proves that everything before it
# was received, so it must come in order; never PUBREL or PUBREC, which follow other packets.
_SKIMMED = frozenset({SUBACK << 4, PUBACK << 4, PUBCOMP << 4, PINGRESP << 4})


class _NoProperties(SharedTableProperties):
    """What an MQTT 5 message without properties carries: one shared, read-only object."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("the properties of a received message cannot be changed")


NO_PROPERTIES = _NoProperties(PacketTypes.PUBLISH)


class PacketReader:
    """Decodes what :meth:`feed` is given; each message goes to ``on_publish``, every other
    packet to ``on_packet(first_byte, body)``.

    ``released`` holds the packet ids of QoS 2 messages delivered and not yet released by the
    broker (session state): a redelivery of one goes to ``on_duplicate(pid)`` instead.
    Raises :class:`~routemq_runtime.transport.native.codec.MalformedPacket` for bytes MQTT does
    not allow (the connection must then be closed).
    """

    def __init__(
        self,
        *,
        v5: bool,
        on_publish: Callable[[InboundMessage], None],
        on_packet: Callable[[int, bytes], None],
        on_duplicate: Callable[[int], None],
        released: set[int],
        max_packet_size: int | None = None,
    ) -> None:
        self.v5 = v5
        self.on_publish = on_publish
        self.on_packet = on_packet
        self.on_duplicate = on_duplicate
        self.released = released
        self.max_packet_size = max_packet_size or MAX_REMAINING_LENGTH + 5
        self.paused = False
        self.received = 0
        self._held: bytes | None = None
        self._pos = 0
        self._chunks: deque[bytes] = deque()
        self._queued = 0
        self._need = 0
        # Stream offset of _held[0]; offsets of answers already taken by skim() (and where it
        # stopped), so that decoding in order passes over them.
        self._base = 0
        self._skimmed: set[int] = set()
        self._skimmed_to = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not decoded yet."""
        held = len(self._held) - self._pos if self._held is not None else 0
        return held + self._queued

    def reset(self) -> None:
        """A new connection: whatever was left of the old one is gone."""
        self._held = None
        self._pos = 0
        self._chunks.clear()
        self._queued = 0
        self._need = 0
        self._base = 0
        self._skimmed.clear()
        self._skimmed_to = 0
        self.paused = False

    def feed(self, data: bytes) -> None:
        if self._held is None:
            self._held = data
            self._pos = 0
        else:
            self._chunks.append(data)
            self._queued += len(data)
            if self.paused or len(self._held) - self._pos + self._queued < self._need:
                return
        self._drain()

    def resume(self) -> None:
        self.paused = False
        self._drain()

    def _drain(self) -> None:
        while self._held is not None and not self.paused:
            data = self._held
            end = self._parse(data, self._pos)
            self._pos = end
            if self.paused:
                return
            if end == len(data):
                self._next_chunk()
                continue
            # A packet starts at `end` and is not all here: join it with what follows once
            # enough has arrived.
            tail = data[end:]
            self._base += end
            self._need = _packet_size(tail)
            if len(tail) + self._queued < max(self._need, len(tail) + 1):
                self._held, self._pos = tail, 0
                return
            self._chunks.appendleft(tail)
            self._held, self._pos = b"".join(self._chunks), 0
            self._chunks.clear()
            self._queued = 0
            self._need = 0

    def _next_chunk(self) -> None:
        if self._held is not None:
            self._base += len(self._held)
        if self._chunks:
            self._held = self._chunks.popleft()
            self._queued -= len(self._held)
        else:
            self._held = None
        self._pos = 0
        self._need = 0

    def _parse(self, data: bytes, pos: int) -> int:
        """Decode whole packets from ``pos``; returns where the first incomplete one starts (or
        where reading was paused)."""
        size, v5, limit = len(data), self.v5, self.max_packet_size
        deliver, released = self.on_publish, self.released
        try:
            while pos < size and not self.paused:
                first = data[pos]
                if pos + 1 >= size:
                    break
                length = data[pos + 1]
                start = pos + 2
                if length & 0x80:
                    length, start = varint_at(data, pos + 1)
                    if start < 0:
                        break
                end = start + length
                if end - pos > limit:
                    raise _too_large(end - pos, limit)
                if end > size:
                    break
                if first & 0xF0 != 0x30:
                    self._control(first, data[start:end], self._base + pos)
                    pos = end
                    continue
                qos = (first >> 1) & 3
                topic_end = start + 2 + ((data[start] << 8) | data[start + 1])
                topic = data[start + 2 : topic_end].decode()
                if qos:
                    if qos == 3:
                        raise MalformedPacket("PUBLISH with QoS 3")
                    pid = (data[topic_end] << 8) | data[topic_end + 1]
                    i = topic_end + 2
                else:
                    if first & 0x08:
                        raise MalformedPacket("PUBLISH at QoS 0 marked as a redelivery")
                    pid = None
                    i = topic_end
                if v5:
                    if data[i]:
                        properties, i = _publish_properties(data, i, end)
                    else:
                        properties = NO_PROPERTIES
                        i += 1
                else:
                    properties = None
                if i > end or topic_end == start + 2:
                    raise MalformedPacket("PUBLISH shorter than its header or without a topic")
                pos = end
                self.received += 1
                if qos == 2 and pid in released:
                    self.on_duplicate(pid)
                    continue
                deliver(InboundMessage(topic, data[i:end], qos, (first & 1) == 1, properties, pid))
        except IndexError as error:
            raise MalformedPacket("PUBLISH shorter than its header") from error
        except UnicodeDecodeError as error:
            raise MalformedPacket("topic is not UTF-8") from error
        return pos

    def skim(self) -> None:
        """While decoding is paused: take the answers the consumer may be waiting for from the
        bytes held (see ``_SKIMMED``), leaving every message where it is."""
        if not self.paused or self._held is None:
            return
        if self._chunks:  # one contiguous buffer to walk (at most what a pause holds)
            self._chunks.appendleft(self._held[self._pos :])
            self._base += self._pos
            self._held, self._pos = b"".join(self._chunks), 0
            self._chunks.clear()
            self._queued = 0
        data = self._held
        pos = max(self._pos, self._skimmed_to - self._base)
        while pos + 1 < len(data):
            length, start = varint_at(data, pos + 1)
            if start < 0 or start + length > len(data):
                break
            if data[pos] in _SKIMMED:
                self._skimmed.add(self._base + pos)
                self.on_packet(data[pos], data[start : start + length])
            pos = start + length
        self._skimmed_to = self._base + pos

    def _control(self, first: int, body: bytes, offset: int) -> None:
        if self._skimmed and offset in self._skimmed:
            self._skimmed.discard(offset)  # skim() handed it over already
            return
        kind = first >> 4
        if kind == 0:
            raise MalformedPacket("packet type 0 is reserved")
        if first & 0x0F != (2 if kind in _FLAGS_TWO else 0):
            raise MalformedPacket(f"packet type {kind} with reserved flags {first & 0x0F:#06b}")
        self.on_packet(first, body)


def _too_large(size: int, limit: int) -> MalformedPacket:
    return MalformedPacket(f"packet of {size} bytes is over the limit of {limit}", PACKET_TOO_LARGE)


def _packet_size(data: bytes) -> int:
    """The whole size of the packet ``data`` starts with, or 0 while its header is incomplete."""
    length, start = varint_at(data, 1) if len(data) > 1 else (-1, -1)
    return start + length if start >= 0 else 0


def _publish_properties(data: bytes, pos: int, end: int) -> tuple[Any, int]:
    length, start = read_varint(data, pos)
    if start + length > end:  # the bytes after `end` are the next packet's
        raise MalformedPacket("PUBLISH properties run past the packet")
    properties = SharedTableProperties(PacketTypes.PUBLISH)
    try:
        properties.unpack(data[pos : start + length])
    except Exception as error:  # paho raises several types for a broken property list
        raise MalformedPacket(f"broken PUBLISH properties: {error}") from error
    if hasattr(properties, "TopicAlias"):
        raise MalformedPacket("topic alias sent, but none was allowed", PROTOCOL_ERROR)
    return properties, start + length
