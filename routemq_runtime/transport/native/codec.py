"""MQTT 3.1.1 and 5 packets as bytes: what a worker slot sends, and the small decoders of what it
receives besides PUBLISH (which :mod:`~routemq_runtime.transport.native.reader` decodes inline).

Properties are paho-mqtt's :class:`~paho.mqtt.properties.Properties`, so handlers see the same
objects whichever transport received the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = range(8, 16)

#: The largest remaining length a four-byte variable byte integer can say (MQTT's own limit).
MAX_REMAINING_LENGTH = 268_435_455

PINGREQ_PACKET = b"\xc0\x00"

# MQTT 5 reason codes a client sends when it closes the connection itself.
NORMAL_DISCONNECTION = 0x00
MALFORMED_PACKET = 0x81
PROTOCOL_ERROR = 0x82
PACKET_TOO_LARGE = 0x95

# MQTT 3.1.1 CONNACK return codes as MQTT 5 reason codes (the names paho and our hints use).
CONNACK_311 = {1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87}


class MalformedPacket(ValueError):
    """The broker sent something MQTT does not allow; the connection is closed with ``reason``."""

    def __init__(self, message: str, reason: int = MALFORMED_PACKET) -> None:
        super().__init__(message)
        self.reason = reason


def varint(value: int) -> bytes:
    """A variable byte integer (remaining lengths, property lengths)."""
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        if value:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it); raises :class:`MalformedPacket` past four bytes or the end."""
    value, after = varint_at(data, pos)
    if after < 0:
        raise MalformedPacket("variable byte integer runs past the packet")
    return value, after


def varint_at(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it), or (-1, -1) when its bytes have not all arrived; raises
    :class:`MalformedPacket` past four bytes."""
    value = 0
    for shift in (0, 7, 14, 21):
        if pos >= len(data):
            return -1, -1
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
    raise MalformedPacket("variable byte integer longer than four bytes")


def text(value: str) -> bytes:
    raw = value.encode()
    return len(raw).to_bytes(2, "big") + raw


def binary(value: bytes) -> bytes:
    return len(value).to_bytes(2, "big") + value


def packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + varint(len(body)) + body


def packed(properties: Properties | None) -> bytes:
    """MQTT 5 properties with their length (an empty set is one zero byte)."""
    return properties.pack() if properties is not None else b"\x00"


def connect_packet(
    client_id: str,
    *,
    v5: bool,
    keepalive: int,
    clean_start: bool,
    username: str | None = None,
    password: str | None = None,
    properties: Properties | None = None,
) -> bytes:
    flags = 0x02 if clean_start else 0
    payload = text(client_id)
    if username is not None:
        flags |= 0x80
        payload += text(username)
    if password is not None:
        flags |= 0x40
        payload += binary(password.encode())
    head = text("MQTT") + bytes((5 if v5 else 4, flags)) + keepalive.to_bytes(2, "big")
    if v5:
        head += packed(properties)
    return packet(CONNECT << 4, head + payload)


def subscribe_packet(pid: int, filters: list[tuple[str, int]], *, v5: bool) -> bytes:
    # MQTT 5: retained messages only for a subscription that is new (retain handling 1), not on
    # every reconnect.
    options = 0x10 if v5 else 0
    body = pid.to_bytes(2, "big") + (b"\x00" if v5 else b"")
    for topic_filter, qos in filters:
        body += text(topic_filter) + bytes((qos | options,))
    return packet(SUBSCRIBE << 4 | 0x02, body)


def unsubscribe_packet(pid: int, filters: list[str], *, v5: bool) -> bytes:
    body = pid.to_bytes(2, "big") + (b"\x00" if v5 else b"")
    for topic_filter in filters:
        body += text(topic_filter)
    return packet(UNSUBSCRIBE << 4 | 0x02, body)


def publish_packet(
    topic: str,
    payload: bytes,
    qos: int,
    retain: bool,
    pid: int | None,
    *,
    v5: bool,
    properties: Properties | None = None,
) -> bytes:
    body = text(topic)
    if qos:
        assert pid is not None
        body += pid.to_bytes(2, "big")
    if v5:
        body += packed(properties)
    return packet(PUBLISH << 4 | qos << 1 | int(retain), body + payload)


def with_dup(publish: bytes) -> bytes:
    """The same PUBLISH marked as a redelivery."""
    return bytes((publish[0] | 0x08,)) + publish[1:]


def ack_packet(kind: int, pid: int) -> bytes:
    """PUBACK, PUBREC, PUBREL or PUBCOMP with success (the short form both versions accept)."""
    first = kind << 4 | (0x02 if kind == PUBREL else 0)
    return bytes((first, 2, pid >> 8, pid & 0xFF))


def disconnect_packet(
    *, v5: bool, reason: int = NORMAL_DISCONNECTION, session_expiry: int | None = None
) -> bytes:
    if not v5:
        return b"\xe0\x00"
    properties = None
    if session_expiry is not None:
        properties = Properties(PacketTypes.DISCONNECT)
        properties.SessionExpiryInterval = session_expiry
    if reason == NORMAL_DISCONNECTION and properties is None:
        return b"\xe0\x00"
    return packet(DISCONNECT << 4, bytes((reason,)) + packed(properties))


# -- what the broker answers ------------------------------------------------------------------


def reason_name(kind: int, code: int) -> str:
    """A reason code as paho names it ("Not authorized"), or its number when MQTT has no name."""
    try:
        return ReasonCode(kind, identifier=code).getName()
    except (KeyError, ValueError):
        return f"reason code 0x{code:02x}"


def properties_of(kind: int, body: bytes, pos: int) -> tuple[Properties, int]:
    """The MQTT 5 properties at ``pos`` and the position after them."""
    if pos >= len(body):  # omitted: allowed when there are none
        return Properties(kind), pos
    try:
        properties, size = Properties(kind).unpack(body[pos:])
    except Exception as error:  # paho raises several types for a broken property list
        raise MalformedPacket(f"broken properties: {error}") from error
    return properties, pos + size


@dataclass(frozen=True)
class Answer:
    """A CONNACK, SUBACK, UNSUBACK, PUBACK/PUBREC/PUBCOMP or DISCONNECT, decoded."""

    kind: int
    pid: int = 0
    codes: tuple[int, ...] = ()
    properties: Any = None
    session_present: bool = False

    @property
    def code(self) -> int:
        return self.codes[0] if self.codes else 0

    @property
    def reason_string(self) -> str | None:
        return getattr(self.properties, "ReasonString", None)


def decode_answer(kind: int, body: bytes, *, v5: bool) -> Answer:
    """Decode a packet other than PUBLISH that a client may receive."""
    if kind == CONNACK:
        if len(body) < 2 or body[0] & 0xFE:
            raise MalformedPacket("CONNACK with bad flags or too short")
        # A broker without MQTT 5 answers a version 5 CONNECT with 3.1.1's "unacceptable
        # protocol version" (1): MQTT 5 reason codes below 0x80 mean success, so map them.
        code = body[1] if v5 and not 0 < body[1] < 0x80 else CONNACK_311.get(body[1], body[1])
        props = properties_of(PacketTypes.CONNACK, body, 2)[0] if v5 else None
        return Answer(kind, 0, (code,), props, bool(body[0] & 1))
    if kind in (PINGRESP,):
        return Answer(kind)
    if kind == DISCONNECT:
        code = body[0] if body else NORMAL_DISCONNECTION
        props = properties_of(PacketTypes.DISCONNECT, body, 1)[0] if v5 and body else None
        return Answer(kind, 0, (code,), props)
    if len(body) < 2:
        raise MalformedPacket(f"packet type {kind} without a packet identifier")
    pid = int.from_bytes(body[:2], "big")
    if kind in (SUBACK, UNSUBACK):
        props, pos = (None, 2)
        if v5:
            props, pos = properties_of(PacketTypes.SUBACK, body, 2)
        return Answer(kind, pid, tuple(body[pos:]), props)
    # PUBACK, PUBREC, PUBREL, PUBCOMP: a reason code and properties only on MQTT 5, optional.
    code = body[2] if v5 and len(body) > 2 else 0
    props = properties_of(PacketTypes.PUBACK, body, 3)[0] if v5 and len(body) > 3 else None
    return Answer(kind, pid, (code,), props)
