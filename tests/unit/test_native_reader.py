"""PacketReader: whatever way the bytes are cut into reads, the same packets come out, once each,
in order; pausing, resuming and skimming never lose, repeat or reorder a message.

Streams are built with the hand-written encoders of :mod:`tests.support.fake_broker`, never with
the codec under test, and the expected events are derived from what was encoded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routemq_runtime.message import InboundMessage
from routemq_runtime.transport.native import reader as reader_module
from routemq_runtime.transport.native.codec import MalformedPacket
from routemq_runtime.transport.native.reader import PacketReader
from tests.support import fake_broker as w

SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
#: First bytes of the answers skim() may take ahead of messages.
SKIMMABLE = {w.SUBACK << 4, w.PUBACK << 4, w.PUBCOMP << 4, w.PINGRESP << 4}
PROPERTY_NAMES = (
    "PayloadFormatIndicator",
    "MessageExpiryInterval",
    "ContentType",
    "ResponseTopic",
    "CorrelationData",
    "SubscriptionIdentifier",
    "UserProperty",
)


@dataclass
class Stream:
    """Encoded packets and, per packet, the event the reader must report for it."""

    v5: bool
    data: bytes = b""
    events: list[tuple[Any, ...]] = field(default_factory=list)
    released: set[int] = field(default_factory=set)
    delivered: set[int] = field(default_factory=set)
    #: Where each packet ends in ``data``.
    ends: list[int] = field(default_factory=list)

    def add(self, raw: bytes, event: tuple[Any, ...]) -> None:
        self.data += raw
        self.events.append(event)
        self.ends.append(len(self.data))

    def control(self, raw: bytes) -> None:
        packet = w.split_packets(raw)[0][0]
        self.add(raw, ("packet", packet.first, packet.body))


class Recorder:
    """A reader whose callbacks record events; pauses after the message numbers in ``pause_at``."""

    def __init__(self, stream: Stream, pause_at: Iterable[int] = (), **options: Any) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.pause_at = set(pause_at)
        self.messages = 0
        self.reader = PacketReader(
            v5=stream.v5,
            on_publish=self._publish,
            on_packet=lambda first, body: self.events.append(("packet", first, bytes(body))),
            on_duplicate=lambda pid: self.events.append(("duplicate", pid)),
            released=set(stream.released),
            **options,
        )

    def _publish(self, message: InboundMessage) -> None:
        self.events.append(publish_event(message))
        self.messages += 1
        if self.messages in self.pause_at:
            self.reader.paused = True


def publish_event(message: InboundMessage) -> tuple[Any, ...]:
    props = message.properties
    if props is not None:
        props = {name: getattr(props, name) for name in PROPERTY_NAMES if hasattr(props, name)}
    return (
        "publish",
        message.topic,
        message.payload,
        message.qos,
        message.retain,
        message.mid,
        props,
    )


def pieces(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def feed_all(recorder: Recorder, chunks: Iterable[bytes]) -> list[tuple[Any, ...]]:
    for chunk in chunks:
        recorder.reader.feed(chunk)
    assert recorder.reader.buffered == 0
    return recorder.events


# -- streams ------------------------------------------------------------------------------------

# MQTT strings are UTF-8 without U+0000 (paho refuses it in properties).
chars = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
topics = st.text(chars, min_size=1, max_size=12)
short_text = st.text(chars, max_size=6)
pids = st.integers(1, 65535)


@st.composite
def publish_properties(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    raw, expected = b"", {}
    if draw(st.booleans()):
        expected["PayloadFormatIndicator"] = value = draw(st.integers(0, 1))
        raw += w.p_payload_format(value)
    if draw(st.booleans()):
        expected["MessageExpiryInterval"] = value = draw(st.integers(0, 2**32 - 1))
        raw += w.p_message_expiry(value)
    if draw(st.booleans()):
        expected["ContentType"] = value = draw(short_text)
        raw += w.p_content_type(value)
    if draw(st.booleans()):
        expected["ResponseTopic"] = value = draw(topics)
        raw += w.p_response_topic(value)
    if draw(st.booleans()):
        expected["CorrelationData"] = value = draw(st.binary(max_size=16))
        raw += w.p_correlation_data(value)
    if draw(st.booleans()):
        expected["SubscriptionIdentifier"] = [value := draw(st.integers(1, 268_435_455))]
        raw += w.p_subscription_id(value)
    users = draw(st.lists(st.tuples(short_text, short_text), max_size=3))
    if users:
        expected["UserProperty"] = users
        raw += b"".join(w.p_user_property(k, v) for k, v in users)
    return raw, expected


@st.composite
def add_publish(draw: st.DrawFn, stream: Stream, payloads: st.SearchStrategy[bytes]) -> None:
    topic, payload = draw(topics), draw(payloads)
    qos, retain = draw(st.integers(0, 2)), draw(st.booleans())
    pid = draw(pids) if qos else 0
    dup = qos > 0 and draw(st.booleans())
    raw_props, props = draw(publish_properties()) if stream.v5 else (b"", None)
    raw = w.publish(
        topic, payload, qos=qos, pid=pid, retain=retain, dup=dup, v5=stream.v5, props=raw_props
    )
    # The released set is given to the reader up front: a pid already delivered stays out of it.
    if qos == 2 and pid not in stream.delivered and draw(st.integers(0, 3)) == 0:
        stream.released.add(pid)
    stream.delivered.add(pid)
    if qos == 2 and pid in stream.released:
        stream.add(raw, ("duplicate", pid))
    else:
        stream.add(raw, ("publish", topic, payload, qos, retain, pid or None, props))


@st.composite
def answer(draw: st.DrawFn, v5: bool) -> bytes:
    """Any packet but PUBLISH a broker may send, in its short or (MQTT 5) long forms."""
    kind = draw(st.sampled_from([w.CONNACK, w.PUBACK, w.PUBREC, w.PUBREL, w.PUBCOMP, w.SUBACK]))
    kind = draw(st.sampled_from([kind, w.UNSUBACK, w.PINGRESP, w.DISCONNECT]))
    pid = draw(pids)
    props = b""
    if v5 and draw(st.booleans()):
        props = w.p_reason_string(draw(short_text)) + w.p_user_property("k", draw(short_text))
    if kind == w.CONNACK:
        code = draw(st.sampled_from([0, 0x80, 0x87] if v5 else [0, 3, 5]))
        extra = w.p_server_keep_alive(draw(st.integers(0, 65535))) if v5 else b""
        return w.connack(code, session_present=draw(st.booleans()), v5=v5, props=props + extra)
    if kind in (w.PUBACK, w.PUBREC, w.PUBREL, w.PUBCOMP):
        form = draw(st.integers(0, 2)) if v5 else 0
        reason = draw(st.sampled_from([0, 0x10, 0x80, 0x92])) if form else None
        return w.ack(kind, pid, reason=reason, props=props if form == 2 else None)
    if kind in (w.SUBACK, w.UNSUBACK):
        codes = draw(st.lists(st.sampled_from([0, 1, 2, 0x80, 0x87]), min_size=1, max_size=4))
        return w.suback(pid, codes, v5=v5, kind=kind)
    if kind == w.PINGRESP:
        return w.PINGRESP_PACKET
    return w.disconnect(draw(st.sampled_from([0, 0x8B])), props=props) if v5 else b"\xe0\x00"


@st.composite
def streams(draw: st.DrawFn, v5: bool | None = None, big: bool = False) -> Stream:
    stream = Stream(draw(st.booleans()) if v5 is None else v5)
    sizes = st.binary(max_size=200)
    if big:  # some payloads over two-byte and three-byte remaining lengths
        sizes = st.one_of(sizes, st.integers(200, 40_000).map(pattern))
    for _ in range(draw(st.integers(1, 25))):
        if draw(st.integers(0, 2)):
            draw(add_publish(stream, sizes))
        else:
            stream.control(draw(answer(stream.v5)))
    return stream


def pattern(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def cut_points(stream: Stream) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(1, max(1, len(stream.data) - 1)), max_size=40)


# -- one packet stream, any cut -----------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_any_cuts_give_the_same_packets_in_order(data: st.DataObject) -> None:
    stream = data.draw(streams(big=data.draw(st.booleans())))
    chunks = pieces(stream.data, data.draw(cut_points(stream)))
    recorder = Recorder(stream)
    assert feed_all(recorder, chunks) == stream.events
    assert recorder.reader.received == sum(e[0] != "packet" for e in stream.events)


def fixed_stream(v5: bool) -> Stream:
    """Every packet type a client receives, in a stream short enough to cut at every byte."""
    stream = Stream(v5, released={77})
    props = w.p_response_topic("re/ply") + w.p_correlation_data(b"\x00id")
    props += w.p_user_property("k", "v") if v5 else b""
    stream.control(w.connack(0, session_present=True, v5=v5))
    stream.control(w.suback(1, [1, 0x80], v5=v5))
    for qos, pid, retain, dup in ((0, 0, False, False), (1, 9, True, True), (2, 10, False, False)):
        raw = w.publish("a/b", b"xy", qos=qos, pid=pid, retain=retain, dup=dup, v5=v5, props=props)
        expected = {"ResponseTopic": "re/ply", "CorrelationData": b"\x00id"}
        if v5:
            expected["UserProperty"] = [("k", "v")]
        stream.add(
            raw, ("publish", "a/b", b"xy", qos, retain, pid or None, expected if v5 else None)
        )
    stream.add(w.publish("q2", b"", qos=2, pid=77, dup=True, v5=v5), ("duplicate", 77))
    for kind in (w.PUBACK, w.PUBREC, w.PUBREL, w.PUBCOMP):
        stream.control(w.ack(kind, 300))
        if v5:
            stream.control(w.ack(kind, 301, reason=0x10))
            stream.control(w.ack(kind, 302, reason=0x80, props=w.p_reason_string("no")))
    stream.control(w.unsuback(2, [0, 0x11], v5=v5))
    stream.control(w.PINGRESP_PACKET)
    stream.add(
        w.publish("é/ü", b"z" * 130, v5=v5),
        ("publish", "é/ü", b"z" * 130, 0, False, None, {} if v5 else None),
    )
    stream.control(w.disconnect(0x8B, props=w.p_reason_string("bye")) if v5 else b"\xe0\x00")
    return stream


@pytest.mark.parametrize("v5", [False, True], ids=["3.1.1", "5"])
def test_cut_at_every_byte_boundary(v5: bool) -> None:
    stream = fixed_stream(v5)
    for cut in range(1, len(stream.data)):
        assert feed_all(Recorder(stream), pieces(stream.data, [cut])) == stream.events, cut
    one_byte_reads = pieces(stream.data, range(len(stream.data)))
    assert feed_all(Recorder(stream), one_byte_reads) == stream.events


# -- large packets: one join each, however many reads ---------------------------------------------


class CountingDeque(deque):
    """The reader's queue of reads, counting the bytes that pass through it into a join."""

    joined = 0
    joins = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        CountingDeque.joins += 1
        for chunk in super().__iter__():
            CountingDeque.joined += len(chunk)
            yield chunk


def bytes_joined(monkeypatch: pytest.MonkeyPatch, payload_size: int, read: int) -> int:
    monkeypatch.setattr(reader_module, "deque", CountingDeque)
    CountingDeque.joined = CountingDeque.joins = 0
    stream = Stream(v5=True)
    payload = pattern(payload_size)
    stream.add(
        w.publish("big", payload, qos=1, pid=1, v5=True),
        ("publish", "big", payload, 1, False, 1, {}),
    )
    small = w.publish("s", b"1", v5=True)
    stream.add(small, ("publish", "s", b"1", 0, False, None, {}))
    recorder = Recorder(stream)
    assert (
        feed_all(recorder, pieces(stream.data, range(0, len(stream.data), read))) == stream.events
    )
    assert CountingDeque.joins == 1, "the large packet was joined more than once"
    return CountingDeque.joined


def test_a_large_packet_is_joined_once(monkeypatch: pytest.MonkeyPatch) -> None:
    one = bytes_joined(monkeypatch, 1 << 20, 4096)
    four = bytes_joined(monkeypatch, 4 << 20, 4096)
    assert one < (1 << 20) + 8192
    # Linear: four times the payload costs four times the copying, not sixteen.
    assert four < 4 * one + 8192


@SETTINGS
@given(st.data())
def test_joined_bytes_stay_linear_for_any_cuts(data: st.DataObject) -> None:
    stream = data.draw(streams(big=True))
    cuts = data.draw(cut_points(stream))
    chunks = pieces(stream.data, cuts)
    CountingDeque.joined = 0
    original = reader_module.deque
    reader_module.deque = CountingDeque
    try:
        recorder = Recorder(stream)
    finally:
        reader_module.deque = original
    assert feed_all(recorder, chunks) == stream.events
    # A join copies the reads an incomplete packet spans, and at most once more the start of
    # that packet (when its header itself was cut): each byte twice at most, never once per read.
    assert CountingDeque.joined <= 2 * len(stream.data) + max(len(c) for c in chunks)


# -- pausing, resuming, skimming ------------------------------------------------------------------


def skimmable(event: tuple[Any, ...]) -> bool:
    return event[0] == "packet" and event[1] in SKIMMABLE


def ahead_of_answers(events: list[tuple[Any, ...]]) -> list[int]:
    """For each skimmable answer, how many other events came before it."""
    counts, ahead = [], 0
    for event in events:
        if skimmable(event):
            counts.append(ahead)
        else:
            ahead += 1
    return counts


def check_order(got: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> None:
    """Every event once; messages and the answers that must stay in order exactly in stream
    order; skimmed answers in order among themselves and never later than in the stream."""
    assert [e for e in got if not skimmable(e)] == [e for e in expected if not skimmable(e)]
    assert [e for e in got if skimmable(e)] == [e for e in expected if skimmable(e)]
    pairs = zip(ahead_of_answers(got), ahead_of_answers(expected), strict=True)
    assert all(taken <= in_stream for taken, in_stream in pairs)


@SETTINGS
@given(st.data())
def test_pause_resume_and_skim_lose_and_repeat_nothing(data: st.DataObject) -> None:
    stream = data.draw(streams(big=data.draw(st.booleans())))
    chunks = pieces(stream.data, data.draw(cut_points(stream)))
    count = sum(e[0] == "publish" for e in stream.events)
    pause_at = data.draw(st.sets(st.integers(1, max(1, count))))
    recorder = Recorder(stream, pause_at)
    reader = recorder.reader
    fed = 0
    for chunk in chunks:
        # The consumer may also pause between reads (NativeTransport.pause_reading).
        reader.paused = reader.paused or data.draw(st.integers(0, 3)) == 0
        reader.feed(chunk)  # while paused too: the bytes wait
        fed += len(chunk)
        while reader.paused and data.draw(st.integers(0, 2)):
            if data.draw(st.booleans()):
                skim(recorder, stream, fed)
            else:
                reader.resume()
    while reader.paused:
        if data.draw(st.booleans()):
            skim(recorder, stream, fed)
        reader.resume()
    assert reader.buffered == 0
    check_order(recorder.events, stream.events)


@SETTINGS
@given(st.data())
def test_after_reset_a_new_connection_starts_clean(data: st.DataObject) -> None:
    old = data.draw(streams())
    stream = data.draw(streams(v5=old.v5))
    recorder = Recorder(stream, pause_at=data.draw(st.sets(st.integers(1, 5))))
    reader = recorder.reader
    # Part of the old connection's bytes, perhaps paused and skimmed mid-way.
    for chunk in pieces(old.data, data.draw(cut_points(old)))[:-1]:
        reader.feed(chunk)
        if reader.paused and data.draw(st.booleans()):
            reader.skim()
    reader.reset()
    del recorder.events[:]
    recorder.pause_at = set()
    assert not reader.paused and reader.buffered == 0
    chunks = pieces(stream.data, data.draw(cut_points(stream)))
    assert feed_all(recorder, chunks) == stream.events


def test_what_was_skimmed_on_a_lost_connection_is_not_passed_over_on_the_next() -> None:
    # The broker resends the same bytes after a reconnect: the answers skimmed from the old
    # connection sit at the same offsets as the new connection's.
    stream = Stream(v5=False)
    stream.add(
        w.publish("a", b"1", qos=1, pid=1, v5=False), ("publish", "a", b"1", 1, False, 1, None)
    )
    stream.control(w.ack(w.PUBACK, 2))
    recorder = Recorder(stream, pause_at=[1])
    recorder.reader.feed(stream.data)
    recorder.reader.skim()
    assert recorder.events == stream.events
    recorder.reader.reset()
    recorder.events.clear()
    recorder.pause_at.clear()
    assert feed_all(recorder, [stream.data]) == stream.events


def skim(recorder: Recorder, stream: Stream, fed: int) -> None:
    """Skim, and check that every answer skim may take that has fully arrived was taken."""
    recorder.reader.skim()
    arrived = [e for e, end in zip(stream.events, stream.ends, strict=True) if end <= fed]
    taken = [e for e in recorder.events if skimmable(e)]
    assert taken == [e for e in arrived if skimmable(e)]


def test_resume_continues_where_a_pause_stopped_mid_read() -> None:
    stream = Stream(v5=False)
    for n in range(10):
        stream.add(
            w.publish(f"t/{n}", b"%d" % n, v5=False),
            ("publish", f"t/{n}", b"%d" % n, 0, False, None, None),
        )
    recorder = Recorder(stream, pause_at=[3, 7])
    reader = recorder.reader
    reader.feed(stream.data[:-5])  # the last message is cut: its end comes while paused
    assert [e[1] for e in recorder.events] == ["t/0", "t/1", "t/2"]
    assert reader.paused
    reader.feed(stream.data[-5:])
    assert len(recorder.events) == 3, "decoded while paused"
    reader.resume()
    assert [e[1] for e in recorder.events] == [f"t/{n}" for n in range(7)]
    reader.resume()
    assert recorder.events == stream.events
    assert reader.buffered == 0


def test_skim_takes_waited_for_answers_ahead_of_messages_exactly_once() -> None:
    v5 = True
    stream = Stream(v5)

    def message(n: int) -> None:
        stream.add(
            w.publish(f"m/{n}", b"", qos=1, pid=n, v5=v5),
            ("publish", f"m/{n}", b"", 1, False, n, {}),
        )

    message(1)
    message(2)
    stream.control(w.suback(100, [1], v5=v5))
    message(3)
    stream.control(w.unsuback(101, [0], v5=v5))
    stream.control(w.ack(w.PUBREL, 102))
    stream.control(w.ack(w.PUBACK, 103))
    stream.control(w.ack(w.PUBREC, 104))
    message(4)
    stream.control(w.PINGRESP_PACKET)
    stream.control(w.ack(w.PUBCOMP, 105, reason=0x92))
    later = len(stream.data)
    stream.control(w.ack(w.PUBACK, 106))  # arrives while paused, after a first skim
    message(5)

    recorder = Recorder(stream, pause_at=[1])
    reader = recorder.reader
    reader.feed(stream.data[:later])
    assert [e[1] for e in recorder.events] == ["m/1"]
    reader.skim()
    taken = [e[1:] for e in recorder.events[1:]]
    assert taken == [
        (0x90, b"\x00\x64\x00\x01"),
        (0x40, b"\x00\x67"),
        (0xD0, b""),
        (0x70, b"\x00\x69\x92"),
    ]
    reader.skim()
    assert len(recorder.events) == 5, "skimmed twice"
    reader.feed(stream.data[later:])
    reader.skim()
    assert recorder.events[5:] == [("packet", 0x40, b"\x00\x6a")]
    reader.resume()
    kinds = [e[1] if e[0] == "publish" else e[1] >> 4 for e in recorder.events[6:]]
    # What was skimmed is not delivered again; UNSUBACK, PUBREL, PUBREC stay in order.
    assert kinds == ["m/2", "m/3", w.UNSUBACK, w.PUBREL, w.PUBREC, "m/4", "m/5"]
    check_order(recorder.events, stream.events)


def test_skim_does_nothing_unless_paused() -> None:
    stream = Stream(v5=False)
    stream.control(w.suback(1, [0], v5=False))
    recorder = Recorder(stream)
    recorder.reader.feed(stream.data[:-1])
    recorder.reader.skim()
    recorder.reader.feed(stream.data[-1:])
    assert recorder.events == stream.events


@pytest.mark.parametrize("v5", [False, True], ids=["3.1.1", "5"])
def test_a_released_qos2_redelivery_goes_to_on_duplicate(v5: bool) -> None:
    stream = Stream(v5, released={7})
    props = {} if v5 else None
    stream.add(w.publish("a", b"1", qos=2, pid=7, dup=True, v5=v5), ("duplicate", 7))
    stream.add(
        w.publish("a", b"2", qos=2, pid=8, v5=v5), ("publish", "a", b"2", 2, False, 8, props)
    )
    # Only QoS 2 ids are in the released set's scope.
    stream.add(
        w.publish("a", b"3", qos=1, pid=7, v5=v5), ("publish", "a", b"3", 1, False, 7, props)
    )
    stream.add(w.publish("a", b"4", qos=2, pid=7, v5=v5), ("duplicate", 7))
    recorder = Recorder(stream)
    assert feed_all(recorder, [stream.data]) == stream.events
    assert recorder.reader.received == 4


# -- malformed input ------------------------------------------------------------------------------

MALFORMED, PROTOCOL_ERROR, TOO_LARGE = 0x81, 0x82, 0x95
BAD = [
    ("remaining length of five bytes", False, b"\x30\xff\xff\xff\xff\x01", MALFORMED),
    ("PUBACK with flags", False, b"\x41\x02\x00\x01", MALFORMED),
    ("PUBREL without its flags", True, b"\x60\x02\x00\x01", MALFORMED),
    ("SUBACK with flags", True, b"\x92\x04\x00\x01\x00\x00", MALFORMED),
    ("PINGRESP with flags", False, b"\xd8\x00", MALFORMED),
    ("QoS 3", False, b"\x36\x05\x00\x01t\x00\x01", MALFORMED),
    ("DUP at QoS 0", False, b"\x38\x04\x00\x01tx", MALFORMED),
    ("topic not UTF-8", False, b"\x30\x04\x00\x02\xc3\x28", MALFORMED),
    ("topic not UTF-8, MQTT 5", True, b"\x30\x05\x00\x02\xff\xfe\x00", MALFORMED),
    ("QoS 1 without its packet id", False, b"\x32\x03\x00\x01t", MALFORMED),
    ("topic longer than the packet", False, b"\x30\x03\x00\x09t", MALFORMED),
    ("MQTT 5 without properties", True, b"\x30\x03\x00\x01t", MALFORMED),
    ("properties past the packet", True, b"\x30\x05\x00\x01t\x05\x01", MALFORMED),
    # Without its property length, the next bytes would read as properties with a topic alias.
    ("cut before its properties", True, b"\x30\x03\x00\x01t\x03\x23\x00\x01", MALFORMED),
    ("properties into the next packet", True, b"\x30\x05\x00\x01t\x03\x23\x00\x01", MALFORMED),
    ("empty topic", False, b"\x30\x03\x00\x00x", MALFORMED),
    ("broken properties", True, b"\x30\x06\x00\x01t\x02\x7f\x00", MALFORMED),
    ("topic alias", True, w.publish("t", b"x", v5=True, props=w.p_topic_alias(1)), PROTOCOL_ERROR),
    ("packet type 0", False, b"\x00\x00", MALFORMED),
    ("over the packet size limit", False, w.publish("t", b"x" * 200, v5=False), TOO_LARGE),
]


def good_prefix(v5: bool) -> Stream:
    stream = Stream(v5)
    props = {} if v5 else None
    for n in range(3):
        raw = w.publish("ok", b"%d" % n, qos=1, pid=n + 1, v5=v5)
        stream.add(raw, ("publish", "ok", b"%d" % n, 1, False, n + 1, props))
    stream.control(w.ack(w.PUBACK, 9))
    return stream


@pytest.mark.parametrize(("v5", "bad", "reason"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_malformed_input_is_refused_after_what_came_before(
    v5: bool, bad: bytes, reason: int
) -> None:
    stream = good_prefix(v5)
    data = stream.data + bad
    for cut in [None, *range(1, len(data))]:
        recorder = Recorder(stream, max_packet_size=128)
        with pytest.raises(MalformedPacket) as raised:
            feed_all(recorder, pieces(data, [] if cut is None else [cut]))
        assert raised.value.reason == reason, (cut, raised.value)
        assert recorder.events == stream.events, cut


def test_a_packet_over_the_limit_is_refused_from_its_header() -> None:
    recorder = Recorder(Stream(v5=False), max_packet_size=1000)
    with pytest.raises(MalformedPacket) as raised:
        recorder.reader.feed(b"\x30\xff\xff\x7f")  # 2 MiB announced, nothing of it sent yet
    assert raised.value.reason == TOO_LARGE


def test_a_packet_at_the_limit_is_taken() -> None:
    stream = Stream(v5=False)
    raw = w.publish("t", b"x" * 123, v5=False)
    assert len(raw) == 128
    stream.add(raw, ("publish", "t", b"x" * 123, 0, False, None, None))
    assert feed_all(Recorder(stream, max_packet_size=128), [raw]) == stream.events
