"""The connection state machine without a broker: paho's client and the socket bridge are fakes,
paho's callbacks are called the way paho calls them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from routemq_runtime import Config
from routemq_runtime.transport.connection import Reconnect, Subscription, TransportError
from routemq_runtime.transport.paho_connection import PahoConnection
from tests.support.polling import until

FAST = Reconnect(base=0.001, maximum=0.004)


class FakeClient:
    """Records what the connection asks of paho; connects fail while ``refuse`` is set."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.subscribed: list[Any] = []
        self.refuse = True

    def connect(self, host: str, port: int, **options: Any) -> None:
        self.calls.append("connect")
        if self.refuse:
            raise ConnectionRefusedError(111, "Connection refused")

    def reconnect(self) -> None:
        self.calls.append("reconnect")
        if self.refuse:
            raise ConnectionRefusedError(111, "Connection refused")

    def subscribe(self, topics: Any) -> tuple[int, int]:
        self.subscribed.append(topics)
        return mqtt.MQTT_ERR_SUCCESS, 42

    def disconnect(self) -> None:
        self.calls.append("disconnect")


class FakeBridge:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sock: Any = None
        self.closed = asyncio.Event()
        self.dropped = 0
        self.housekeeping = 0

    def drop_socket(self) -> None:
        self.dropped += 1

    def start_housekeeping(self) -> None:
        self.housekeeping += 1


class Machine:
    def __init__(self, config: Config, subscriptions: tuple[Subscription, ...]) -> None:
        self.client = FakeClient()
        self.ready_changes: list[bool] = []
        self.lost = 0
        self.connection = PahoConnection(
            config,
            "worker-0",
            self.client,  # type: ignore[arg-type]
            subscriptions,
            receive_maximum=10,
            reconnect=FAST,
            on_ready=self.ready_changes.append,
            on_lost=self._on_lost,
        )

    def _on_lost(self) -> None:
        self.lost += 1

    def start(self) -> FakeBridge:
        bridge = FakeBridge(asyncio.get_running_loop())
        self.connection.start(bridge)  # type: ignore[arg-type]
        return bridge

    def connack(self, reason: str = "Success") -> None:
        flags = mqtt.ConnectFlags(session_present=False)
        self.client.on_connect(
            self.client, None, flags, ReasonCode(PacketTypes.CONNACK, reason), None
        )  # type: ignore[attr-defined]

    def suback(self, *reasons: str) -> None:
        codes = [ReasonCode(PacketTypes.SUBACK, r) for r in reasons]
        self.client.on_subscribe(self.client, None, 42, codes, None)  # type: ignore[attr-defined]

    def lose(self) -> None:
        flags = mqtt.DisconnectFlags(is_disconnect_packet_from_server=False)
        reason = ReasonCode(PacketTypes.DISCONNECT, "Unspecified error")
        self.client.on_disconnect(self.client, None, flags, reason, None)  # type: ignore[attr-defined]


SUBS = (Subscription("$share/g/jobs/+", 1),)


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())


def test_an_unreachable_broker_is_retried_and_explained_once(caplog) -> None:
    caplog.set_level(logging.WARNING, "routemq.transport")
    config = Config(mqtt_broker="10.0.0.9", mqtt_port=1999)

    async def scenario() -> None:
        machine = Machine(config, SUBS)
        bridge = machine.start()
        await until(lambda: len(machine.client.calls) >= 6)
        assert machine.client.calls[0] == "connect"
        assert set(machine.client.calls[1:]) == {"reconnect"}
        assert bridge.dropped == len(machine.client.calls)
        assert not machine.connection.connected and machine.ready_changes == []
        machine.connection.stop()

    run(scenario)
    hints = [r.getMessage() for r in caplog.records if "no MQTT broker answers" in r.getMessage()]
    assert len(hints) == 1
    assert "10.0.0.9:1999" in hints[0] and "mosquitto -p 1999" in hints[0]
    assert "still retrying" in hints[0]


def test_connack_then_suback_make_it_ready() -> None:
    async def scenario() -> None:
        machine = Machine(Config(), SUBS)
        machine.client.refuse = False
        bridge = machine.start()
        assert bridge.housekeeping == 1
        machine.connack()
        [topics] = machine.client.subscribed
        [(topic_filter, options)] = topics
        assert topic_filter == "$share/g/jobs/+"
        # MQTT 5: retained messages only for a subscription that is new.
        assert (options.QoS, options.retainHandling) == (1, 1)
        assert not machine.connection.subscribed
        machine.suback("Granted QoS 1")
        assert machine.connection.subscribed and machine.ready_changes == [True]
        await asyncio.wait_for(machine.connection.ready.wait(), 1)

    run(scenario)


def test_a_lost_connection_is_reported_and_retried_to_the_same_session() -> None:
    async def scenario() -> None:
        machine = Machine(Config(mqtt_protocol="3.1.1"), SUBS)
        machine.client.refuse = False
        machine.start()
        machine.connack()
        assert machine.client.subscribed == [[("$share/g/jobs/+", 1)]]
        machine.suback("Granted QoS 1")
        machine.lose()
        assert machine.lost == 1 and machine.ready_changes == [True, False]
        assert not machine.connection.ready.is_set()
        await until(lambda: "reconnect" in machine.client.calls)
        machine.connack()
        machine.suback("Granted QoS 1")
        assert machine.connection.reconnects == 1
        assert machine.ready_changes == [True, False, True]

    run(scenario)


@pytest.mark.parametrize("reason", ["Not authorized", "Bad user name or password"])
def test_a_fatal_refusal_stops_retrying(reason: str) -> None:
    async def scenario() -> None:
        machine = Machine(Config(), SUBS)
        machine.client.refuse = False
        machine.start()
        machine.connack(reason)
        assert isinstance(machine.connection.fatal_error, TransportError)
        assert reason in str(machine.connection.fatal_error)
        assert machine.connection.ready.is_set()  # waiters wake up and see the error
        machine.lose()
        await asyncio.sleep(0.02)
        assert machine.client.calls == ["connect"]  # never again
        assert machine.lost == 0  # it was never accepted

    run(scenario)


def test_a_refused_subscription_is_fatal() -> None:
    async def scenario() -> None:
        machine = Machine(Config(), SUBS)
        machine.client.refuse = False
        machine.start()
        machine.connack()
        machine.suback("Not authorized")
        assert "broker refused subscription: $share/g/jobs/+" in str(machine.connection.fatal_error)
        assert machine.ready_changes == []

    run(scenario)


def test_a_client_without_subscriptions_is_ready_on_connack() -> None:
    async def scenario() -> None:
        machine = Machine(Config(), ())
        machine.client.refuse = False
        machine.start()
        machine.connack()
        assert machine.client.subscribed == [] and machine.ready_changes == [True]

    run(scenario)
