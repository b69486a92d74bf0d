"""NativeTransport on the wire, against a scripted broker on 127.0.0.1: what it sends, when, and
how it reacts to what a broker answers (refusals, malformed packets, lost connections)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from routemq_runtime import Config
from routemq_runtime.message import InboundMessage
from routemq_runtime.transport.connection import Subscription, TransportError
from routemq_runtime.transport.native.client import NativeTransport
from tests.support import fake_broker as w
from tests.support.fake_broker import BrokerConnection, FakeBroker
from tests.support.polling import until

VERSIONS = pytest.mark.parametrize("v5", [False, True], ids=["3.1.1", "5"])
SUBSCRIPTIONS = (Subscription("jobs/#", 1),)


def run(scenario: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(bounded())


class Client:
    """A NativeTransport on the fake broker, recording what it hands over."""

    def __init__(
        self,
        broker: FakeBroker,
        *,
        v5: bool,
        subscriptions: tuple[Subscription, ...] = SUBSCRIPTIONS,
        auto_ack: bool = False,
        base_delay: float = 0.01,
        receive_maximum: int | None = None,
        **settings: Any,
    ) -> None:
        self.config = Config(
            mqtt_broker="127.0.0.1",
            mqtt_port=broker.port,
            mqtt_protocol="5" if v5 else "3.1.1",
            **settings,
        )
        self.messages: list[InboundMessage] = []
        self.lost = 0
        self.auto_ack = auto_ack
        #: Called with each message instead of the automatic ack, when set.
        self.handle: Callable[[InboundMessage], None] | None = None
        self.transport = NativeTransport(
            self.config,
            "worker-0",
            subscriptions,
            self.on_message,
            receive_maximum=receive_maximum,
            on_connection_lost=self._on_lost,
            reconnect_base_delay=base_delay,
            reconnect_max_delay=base_delay * 4,
        )

    def on_message(self, message: InboundMessage) -> None:
        self.messages.append(message)
        if self.handle is not None:
            self.handle(message)
        elif self.auto_ack and message.qos:
            self.transport.ack(message.mid, message.qos)  # type: ignore[arg-type]

    def _on_lost(self) -> None:
        self.lost += 1

    def start(self) -> NativeTransport:
        self.transport.start()
        return self.transport

    async def close(self) -> None:
        await self.transport.close(0.1)


async def connected(broker: FakeBroker, client: Client, **options: Any) -> BrokerConnection:
    """Start the client, accept it and wait until it is ready."""
    client.start()
    connection, _hello = await broker.handshake(**options)
    await client.transport.wait_ready(2)
    return connection


# -- CONNECT ------------------------------------------------------------------------------------


@VERSIONS
def test_connect_packet(v5: bool) -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(
                broker,
                v5=v5,
                receive_maximum=7,
                mqtt_keepalive=30,
                mqtt_session_expiry=120,
                mqtt_username="user",
                mqtt_password="sécret",
                mqtt_max_packet_size=4096,
            )
            client.start()
            connection = await broker.accept()
            hello = w.parse_connect((await connection.expect(w.CONNECT)).body)
            assert (hello.protocol, hello.level) == ("MQTT", 5 if v5 else 4)
            # User name and password; no will; clean start 0: the session is kept.
            assert hello.flags == 0xC0
            assert hello.keepalive == 30
            assert (hello.client_id, hello.username, hello.password) == (
                "worker-0",
                "user",
                "sécret".encode(),
            )
            # Session Expiry Interval, Receive Maximum, Maximum Packet Size.
            assert hello.properties == ({0x11: 120, 0x21: 7, 0x27: 4096} if v5 else {})
            connection.send(w.connack(v5=v5))
            subscribe = await connection.expect(w.SUBSCRIBE)
            assert subscribe.flags == 0x02
            # MQTT 5 options: QoS 1, retained messages only for a new subscription.
            options = b"\x00" + w.utf8("jobs/#") + (b"\x11" if v5 else b"\x01")
            assert subscribe.body[2:] == (options if v5 else options[1:])
            assert not client.transport.subscribed
            connection.send(w.suback(subscribe.pid, [1], v5=v5))
            await client.transport.wait_ready(1)
            await client.close()

    run(scenario)


def test_no_password_without_a_user_name() -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=False, mqtt_password="unused")
            client.start()
            connection = await broker.accept()
            hello = w.parse_connect((await connection.expect(w.CONNECT)).body)
            assert (hello.flags, hello.username, hello.password) == (0, None, None)
            assert hello.keepalive == 60

    run(scenario)


# -- CONNACK and SUBACK refusals ----------------------------------------------------------------


@VERSIONS
def test_not_authorized_is_fatal_and_not_retried(v5: bool) -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=v5)
            client.start()
            connection = await broker.accept()
            await connection.expect(w.CONNECT)
            connection.send(w.connack(0x87 if v5 else 5, v5=v5))
            with pytest.raises(TransportError, match="'worker-0': Not authorized"):
                await client.transport.wait_ready(1)
            await asyncio.wait_for(connection.closed, 1)
            await asyncio.sleep(0.2)  # ten times the retry delay
            assert len(broker.connections) == 1
            assert not client.transport.connected

    run(scenario)


@VERSIONS
def test_server_unavailable_is_retried_with_backoff(v5: bool) -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=v5, base_delay=0.1)
            client.start()
            delays = []
            connection = await broker.accept()
            for _ in range(2):
                await connection.expect(w.CONNECT)
                connection.send(w.connack(0x88 if v5 else 3, v5=v5))
                refused = time.monotonic()
                connection = await broker.accept()
                delays.append(time.monotonic() - refused)
            # 0.1 s, then 0.2 s, each scaled by a random factor of 0.5 to 1.
            assert 0.05 <= delays[0] < 0.5
            assert 0.1 <= delays[1] < 0.6
            await connection.expect(w.CONNECT)
            connection.send(w.connack(v5=v5))
            connection.send(w.suback((await connection.expect(w.SUBSCRIBE)).pid, [1], v5=v5))
            await client.transport.wait_ready(1)
            assert client.transport.fatal_error is None
            await client.close()

    run(scenario)


def test_connack_properties_are_honoured(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=True, subscriptions=())
            props = w.p_receive_maximum(2) + w.p_assigned_client_id("given-7")
            connection = await connected(broker, client, v5=True, props=props)
            sends = [
                asyncio.create_task(client.transport.publish_confirmed(f"out/{n}", b"%d" % n))
                for n in range(5)
            ]
            unconfirmed: list[int] = []
            for n in range(5):
                topic, pid, payload = w.parse_publish(await connection.expect(w.PUBLISH), v5=True)
                assert (topic, payload) == (f"out/{n}", b"%d" % n)
                unconfirmed.append(pid)
                if len(unconfirmed) == 2:
                    # Receive Maximum 2: no third publish before a PUBACK.
                    await connection.silent(0.05)
                    assert not any(send.done() for send in sends[n - 1 :])
                    connection.send(w.ack(w.PUBACK, unconfirmed.pop(0)))
            connection.send(w.ack(w.PUBACK, unconfirmed.pop(0)))
            await asyncio.gather(*sends)
            await client.close()

    with caplog.at_level(logging.INFO, "routemq.transport"):
        run(scenario)
    assert "given-7" in caplog.text


@VERSIONS
def test_a_refused_subscription_is_fatal_and_named(v5: bool) -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            filters = (Subscription("ok/+", 1), Subscription("$share/g/no/#", 2))
            client = Client(broker, v5=v5, subscriptions=filters)
            client.start()
            connection, _ = await broker.handshake(v5=v5, granted=[1, 0x80])
            with pytest.raises(TransportError, match="refused subscription") as raised:
                await client.transport.wait_ready(1)
            assert "$share/g/no/#" in str(raised.value)
            assert "ok/+" not in str(raised.value)
            await asyncio.wait_for(connection.closed, 1)
            await asyncio.sleep(0.1)
            assert len(broker.connections) == 1

    run(scenario)


MALFORMED = [
    ("QoS 3", b"\x36\x05\x00\x01t\x00\x01", 0x81),
    ("topic alias", w.publish("t", b"", v5=True, props=w.p_topic_alias(3)), 0x82),
    ("too large", w.publish("t", b"x" * 100, v5=True), 0x95),
    ("PINGREQ to a client", b"\xc0\x00", 0x82),
]


@pytest.mark.parametrize(
    ("bad", "reason"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_packet_closes_the_connection_mqtt5(bad: bytes, reason: int) -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=True, mqtt_max_packet_size=64)
            connection = await connected(broker, client, v5=True, granted=[1])
            connection.send(w.publish("jobs/1", b"fine", v5=True) + bad)
            disconnect = await connection.expect(w.DISCONNECT)
            assert disconnect.body[:1] == bytes([reason])
            await asyncio.wait_for(connection.closed, 1)
            await broker.handshake(v5=True, granted=[1])
            await client.transport.wait_ready(1)
            assert [m.payload for m in client.messages] == [b"fine"]
            assert client.transport.reconnects == 1
            await client.close()

    run(scenario)


def test_a_malformed_packet_closes_the_connection_mqtt311() -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=False)
            connection = await connected(broker, client, v5=False, granted=[1])
            connection.send(w.publish("jobs/1", b"fine", v5=False) + b"\x60\x02\x00\x01")
            await asyncio.wait_for(connection.closed, 1)
            assert connection.received[-1].kind == w.SUBSCRIBE, "nothing sent after the PUBREL"
            await broker.handshake(v5=False, granted=[1])
            await client.transport.wait_ready(1)
            assert [m.payload for m in client.messages] == [b"fine"]
            await client.close()

    run(scenario)


# -- acknowledgements ---------------------------------------------------------------------------


class CountingWrites:
    """Stands in for the client's socket transport, counting its writes."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@VERSIONS
def test_the_acks_of_one_loop_turn_leave_in_one_write(v5: bool) -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=v5, auto_ack=True)
            connection = await connected(broker, client, v5=v5, granted=[1])
            protocol = client.transport._connection.protocol
            counting = protocol.transport = CountingWrites(protocol.transport)
            reads_before = len(connection.reads)
            pids = [(n * 997) % 65535 + 1 for n in range(50)]
            connection.send(
                b"".join(w.publish("jobs/x", b"%d" % p, qos=1, pid=p, v5=v5) for p in pids)
            )
            acks = [await connection.expect(w.PUBACK) for _ in pids]
            assert [a.pid for a in acks] == pids
            assert counting.writes == [b"".join(a.raw for a in acks)]
            assert connection.reads[reads_before:] == counting.writes
            await client.close()

    run(scenario)


@VERSIONS
def test_acks_owed_at_a_lost_connection_are_not_sent_on_the_next(v5: bool) -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=v5)
            first = await connected(broker, client, v5=v5, granted=[1])
            transport = client.transport

            def ack_then_fail(message: InboundMessage) -> None:
                transport.ack(message.mid, 1)
                if message.mid == 3:  # the connection is dropped with three acks owed
                    raise RuntimeError("the consumer broke")

            client.handle = ack_then_fail
            first.send(b"".join(w.publish("jobs/x", b"", qos=1, pid=p, v5=v5) for p in (1, 2, 3)))
            await asyncio.wait_for(first.closed, 1)
            transport.ack(4, 1)  # disconnected: dropped
            second = await broker.accept()
            await second.expect(w.CONNECT)
            transport.ack(5, 1)  # connected, not yet accepted: dropped
            second.send(w.connack(0, session_present=True, v5=v5))
            second.send(w.suback((await second.expect(w.SUBSCRIBE)).pid, [1], v5=v5))
            await transport.wait_ready(1)
            client.handle = None
            client.auto_ack = True
            second.send(w.publish("jobs/x", b"", qos=1, pid=3, dup=True, v5=v5))
            assert (await second.expect(w.PUBACK)).pid == 3
            await second.silent(0.05)
            assert [p.kind for p in first.received] == [w.CONNECT, w.SUBSCRIBE]
            await client.close()

    run(scenario)


# -- QoS 2 and the session across reconnects -----------------------------------------------------


async def reconnected(
    broker: FakeBroker, client: Client, v5: bool, *, session_present: bool
) -> BrokerConnection:
    connection, _ = await broker.handshake(v5=v5, session_present=session_present, granted=[2])
    await client.transport.wait_ready(1)
    return connection


@VERSIONS
def test_qos2_receive_across_a_reconnect(v5: bool) -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=v5, subscriptions=(Subscription("jobs/#", 2),))
            first = await connected(broker, client, v5=v5, granted=[2])
            first.send(w.publish("jobs/2", b"once", qos=2, pid=5, v5=v5))
            await until(lambda: client.messages)
            await first.silent(0.05)  # no PUBREC before the message is acked
            client.transport.ack(5, 2)
            assert (await first.expect(w.PUBREC)).raw == w.ack(w.PUBREC, 5)
            first.close()  # before PUBREL: the broker resends the PUBLISH
            second = await reconnected(broker, client, v5, session_present=True)
            second.send(w.publish("jobs/2", b"once", qos=2, pid=5, dup=True, v5=v5))
            assert (await second.expect(w.PUBREC)).raw == w.ack(w.PUBREC, 5)
            second.send(w.ack(w.PUBREL, 5))
            assert (await second.expect(w.PUBCOMP)).raw == w.ack(w.PUBCOMP, 5)
            assert [m.payload for m in client.messages] == [b"once"]
            # Released: the same id is a new message now.
            second.send(w.publish("jobs/2", b"next", qos=2, pid=5, v5=v5))
            await until(lambda: len(client.messages) == 2)
            await second.silent(0.05)
            await client.close()

    run(scenario)


def test_a_new_session_forgets_unreleased_qos2_ids() -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=True, subscriptions=(Subscription("jobs/#", 2),))
            first = await connected(broker, client, v5=True, granted=[2])
            first.send(w.publish("jobs/2", b"a", qos=2, pid=9, v5=True))
            await until(lambda: client.messages)
            client.transport.ack(9, 2)
            await first.expect(w.PUBREC)
            first.close()
            second = await reconnected(broker, client, True, session_present=False)
            second.send(w.publish("jobs/2", b"b", qos=2, pid=9, v5=True))
            await until(lambda: len(client.messages) == 2)
            await second.silent(0.05)
            await client.close()

    run(scenario)


@VERSIONS
def test_an_unconfirmed_publish_is_resent_after_a_reconnect(v5: bool) -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=v5)
            first = await connected(broker, client, v5=v5, granted=[1])
            send = asyncio.create_task(client.transport.publish_confirmed("out/1", b"dl", qos=1))
            sent = await first.expect(w.PUBLISH)
            assert sent.flags == 0x02  # QoS 1, not a redelivery
            _, pid, _ = w.parse_publish(sent, v5=v5)
            first.close()
            second, _ = await broker.handshake(v5=v5, session_present=True, granted=[1])
            again = await second.next()  # resent before anything else
            assert again.flags == 0x0A  # DUP, QoS 1
            assert again.body == sent.body
            assert pid != 0 and not send.done()
            await second.silent(0.05)
            assert not send.done()
            second.send(w.ack(w.PUBACK, pid))
            await asyncio.wait_for(send, 1)
            await client.close()

    run(scenario)


# -- keep-alive ---------------------------------------------------------------------------------


async def keepalive_while_reading_is_paused() -> None:
    async with FakeBroker() as broker:
        # The broker's Server Keep Alive (5 s) overrides the client's 60 s.
        client = Client(broker, v5=True)
        props = w.p_server_keep_alive(5)
        connection = await connected(broker, client, v5=True, granted=[1], props=props)
        client.transport.pause_reading()
        ready = time.monotonic()
        ping = await connection.expect(w.PINGREQ, timeout=6)
        assert ping.raw == b"\xc0\x00"
        assert time.monotonic() - ready > 3  # three quarters of the keep-alive
        # The answer is behind a message the paused reader holds: skimming takes it.
        connection.send(w.publish("jobs/1", b"held", qos=1, pid=1, v5=True) + w.PINGRESP_PACKET)
        link = client.transport._connection
        pong, pongs = link.pong, []
        link.pong = lambda: (pongs.append(len(client.messages)), pong())
        await until(lambda: pongs, timeout=2)  # by the keep-alive tick, once a second
        assert client.messages == []
        client.transport.resume_reading()
        await until(lambda: client.messages)
        assert [m.payload for m in client.messages] == [b"held"]
        await connection.silent(0.05)
        assert pongs == [0], "taken ahead of the message, once"
        await client.close()


async def unanswered_ping_drops_the_connection() -> None:
    async with FakeBroker() as broker:
        client = Client(broker, v5=False, mqtt_keepalive=5)
        connection = await connected(broker, client, v5=False, granted=[1])
        await connection.expect(w.PINGREQ, timeout=6)
        pinged = time.monotonic()
        await asyncio.wait_for(connection.closed, 8)
        # Dropped about a keep-alive after the unanswered PINGREQ (checked once a second).
        assert 4.5 < time.monotonic() - pinged < 7
        await broker.handshake(v5=False, granted=[1])
        await client.transport.wait_ready(1)
        assert client.lost == 1
        await client.close()


def test_keepalive() -> None:
    """Both cases wait for real seconds, so they run side by side."""

    async def both() -> None:
        await asyncio.gather(
            keepalive_while_reading_is_paused(), unanswered_ping_drops_the_connection()
        )

    run(both, timeout=20)


# -- publishing ---------------------------------------------------------------------------------


def test_a_rejected_publish_raises_with_the_reason() -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=True, subscriptions=())
            connection = await connected(broker, client, v5=True)
            send = asyncio.create_task(client.transport.publish_confirmed("out/x", b"1"))
            _, pid, _ = w.parse_publish(await connection.expect(w.PUBLISH), v5=True)
            connection.send(w.ack(w.PUBACK, pid, reason=0x87, props=w.p_reason_string("acl")))
            with pytest.raises(ConnectionError, match=r"rejected publish: Not authorized \(acl\)"):
                await send
            await client.close()

    run(scenario)


def test_qos2_publish_resends_pubrel_after_a_reconnect() -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=False, subscriptions=())
            # Published before the first connection: sent once it is accepted.
            send = asyncio.create_task(client.transport.publish_confirmed("out/2", b"x", qos=2))
            first = await connected(broker, client, v5=False)
            publish = await first.expect(w.PUBLISH)
            assert publish.flags == 0x04
            _, pid, payload = w.parse_publish(publish, v5=False)
            assert payload == b"x"
            first.send(w.ack(w.PUBREC, pid))
            assert (await first.expect(w.PUBREL)).raw == w.ack(w.PUBREL, pid)
            first.close()
            second, _ = await broker.handshake(v5=False, session_present=True)
            # Past PUBREC the message is the broker's: only the release is sent again.
            assert (await second.next()).raw == w.ack(w.PUBREL, pid)
            assert not send.done()
            second.send(w.ack(w.PUBCOMP, pid))
            await asyncio.wait_for(send, 1)
            await second.silent(0.05)
            await client.close()

    run(scenario)


def test_no_connack_closes_the_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    from routemq_runtime.transport.native import link

    monkeypatch.setattr(link, "CONNECT_TIMEOUT", 0.2)

    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=True)
            client.start()
            silent = await broker.accept()
            await silent.expect(w.CONNECT)
            await asyncio.wait_for(silent.closed, 1)
            await broker.handshake(v5=True, granted=[1])
            await client.transport.wait_ready(1)
            await client.close()

    run(scenario)


def test_a_paused_reader_holds_a_bounded_backlog_then_takes_it_all() -> None:
    async def scenario() -> None:
        async with FakeBroker() as broker:
            client = Client(broker, v5=False, auto_ack=True)
            connection = await connected(broker, client, v5=False, granted=[1])
            client.transport.pause_reading()
            payloads = [bytes([n]) * 600_000 for n in range(4)]
            connection.send(
                b"".join(
                    w.publish("jobs/big", p, qos=1, pid=n + 1, v5=False)
                    for n, p in enumerate(payloads)
                )
            )
            protocol = client.transport._connection.protocol
            # Past about a megabyte undecoded, TCP pushes back instead.
            await until(lambda: protocol.socket_paused, timeout=2)
            assert client.transport.reader.buffered < 2_000_000
            assert client.messages == []
            client.transport.resume_reading()
            acks = [await connection.expect(w.PUBACK) for _ in payloads]
            assert [a.pid for a in acks] == [1, 2, 3, 4]
            assert [m.payload for m in client.messages] == payloads
            await client.close()

    run(scenario)
