"""Both clients a worker slot can use (``MQTT_TRANSPORT=native`` and ``paho``) against real
brokers: what a slot needs from MQTT, checked the same way for each."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from routemq_runtime.config import Config
from routemq_runtime.message import InboundMessage
from routemq_runtime.transport import Subscription, slot_transport
from tests.support.aedes import Aedes
from tests.support.mosquitto import Mosquitto, free_port

pytestmark = pytest.mark.integration

TRANSPORTS = ["native", "paho"]


class Inbox:
    """Collects messages on the loop thread and acks each, as the worker does."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.transport: Any = None

    def __call__(self, message: InboundMessage) -> None:
        self.messages.append(message)
        if message.qos:
            self.transport.ack(message.mid, message.qos)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[InboundMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"got {len(self.messages)}, wanted {count}"
            await asyncio.sleep(0.02)
        return self.messages


def open_transport(config: Config, inbox: Inbox, *filters: tuple[str, int], **kw: Any) -> Any:
    transport = slot_transport(config)(
        config,
        "tt-" + uuid.uuid4().hex[:8],
        [Subscription(f, qos) for f, qos in filters],
        inbox,
        reconnect_base_delay=0.05,
        reconnect_max_delay=0.3,
        **kw,
    )
    inbox.transport = transport
    return transport


async def connected(config: Config, inbox: Inbox, *filters: tuple[str, int]) -> Any:
    """A started transport, subscribed and ready."""
    transport = open_transport(config, inbox, *filters)
    transport.start()
    await transport.wait_ready(10)
    return transport


def publisher(host: str, port: int, protocol: int = mqtt.MQTTv5) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
    client.connect(host, port)
    client.loop_start()
    return client


@pytest.mark.parametrize("name", TRANSPORTS)
@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_qos_2_messages_arrive_once_and_are_released(
    mosquitto: Mosquitto, name: str, protocol: str
) -> None:
    config = Config(mqtt_broker=mosquitto.host, mqtt_port=mosquitto.port,
                    mqtt_protocol=protocol, mqtt_transport=name)  # fmt: skip
    prefix = "q2-" + uuid.uuid4().hex[:6]

    async def scenario() -> list[InboundMessage]:
        inbox = Inbox()
        transport = await connected(config, inbox, (f"{prefix}/#", 2))
        client = publisher(mosquitto.host, mosquitto.port)
        infos = [client.publish(f"{prefix}/{n}", str(n).encode(), qos=2) for n in range(200)]
        for info in infos:
            info.wait_for_publish(10)
        got = await inbox.wait_for(200)
        await asyncio.sleep(0.3)  # a redelivery would show up here
        assert await transport.barrier(5)
        client.loop_stop()
        client.disconnect()
        await transport.close()
        return got

    got = asyncio.run(scenario())
    assert [m.payload for m in got] == [str(n).encode() for n in range(200)]
    assert {m.qos for m in got} == {2}


@pytest.mark.parametrize("name", TRANSPORTS)
def test_mqtt5_properties_and_the_retained_flag_arrive(mosquitto: Mosquitto, name: str) -> None:
    config = Config(mqtt_broker=mosquitto.host, mqtt_port=mosquitto.port, mqtt_transport=name)
    topic = "props-" + uuid.uuid4().hex[:6]
    client = publisher(mosquitto.host, mosquitto.port)
    client.publish(f"{topic}/kept", b"r", qos=1, retain=True).wait_for_publish(5)

    async def scenario() -> list[InboundMessage]:
        inbox = Inbox()
        transport = await connected(config, inbox, (f"{topic}/#", 1))
        properties = Properties(PacketTypes.PUBLISH)
        properties.ResponseTopic = f"{topic}/reply"
        properties.CorrelationData = b"\x00\x01id"
        properties.UserProperty = [("a", "1"), ("b", "2")]
        client.publish(f"{topic}/ask", b"q", qos=1, properties=properties).wait_for_publish(5)
        client.publish(f"{topic}/plain", b"p", qos=0).wait_for_publish(5)
        got = await inbox.wait_for(3)
        await transport.close()
        return got

    kept, asked, plain = asyncio.run(scenario())
    client.publish(f"{topic}/kept", b"", qos=1, retain=True).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()
    assert (kept.topic, kept.payload, kept.retain) == (f"{topic}/kept", b"r", True)
    assert asked.retain is False
    assert asked.response_topic == f"{topic}/reply"
    assert asked.correlation_data == b"\x00\x01id"
    assert asked.properties.UserProperty == [("a", "1"), ("b", "2")]
    assert (plain.payload, plain.qos, plain.response_topic) == (b"p", 0, None)


@pytest.mark.parametrize("name", TRANSPORTS)
def test_a_message_of_several_megabytes_arrives_whole(mosquitto: Mosquitto, name: str) -> None:
    config = Config(mqtt_broker=mosquitto.host, mqtt_port=mosquitto.port, mqtt_transport=name)
    topic = "big-" + uuid.uuid4().hex[:6]
    payload = bytes(range(256)) * (12 * 4096)  # 12 MiB: many reads

    async def scenario() -> list[InboundMessage]:
        inbox = Inbox()
        transport = await connected(config, inbox, (topic, 1))
        await transport.publish_confirmed(topic, payload, qos=1)
        await transport.publish_confirmed(topic, b"after", qos=1)
        got = await inbox.wait_for(2, timeout=20)
        await transport.close()
        return got

    big, after = asyncio.run(scenario())
    assert big.payload == payload
    assert after.payload == b"after"


def _certificates(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=slot")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
            "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext",
            "-out", f"{name}.crt")  # fmt: skip
    for file in directory.iterdir():
        file.chmod(0o644)
    return {p.name: p for p in directory.iterdir()}


@pytest.fixture(scope="module")
def tls_broker() -> Iterator[tuple[Mosquitto, dict]]:
    """mosquitto with a TLS listener that requires a client certificate from the same CA."""
    # Readable by mosquitto after it drops root to its own user (pytest's tmp_path is not).
    directory = Path(tempfile.mkdtemp(prefix="routemq-tls-"))
    directory.chmod(0o755)
    files = _certificates(directory)
    port = free_port()
    broker = Mosquitto(
        extra_config=(
            f"listener {port} 127.0.0.1\ncafile {files['ca.crt']}\n"
            f"certfile {files['server.crt']}\nkeyfile {files['server.key']}\n"
            "require_certificate true\nuse_identity_as_username true"
        )
    ).start()
    yield broker, {**files, "port": port}
    broker.cleanup()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("name", TRANSPORTS)
def test_tls_with_a_client_certificate(tls_broker: tuple[Mosquitto, dict], name: str) -> None:
    _broker, files = tls_broker
    config = Config(
        mqtt_broker="127.0.0.1",
        mqtt_port=files["port"],
        mqtt_transport=name,
        mqtt_tls=True,
        mqtt_tls_ca_file=str(files["ca.crt"]),
        mqtt_tls_cert_file=str(files["client.crt"]),
        mqtt_tls_key_file=str(files["client.key"]),
    )

    async def scenario() -> list[InboundMessage]:
        inbox = Inbox()
        transport = await connected(config, inbox, ("tls/#", 1))
        for n in range(300):  # more than one TLS record's worth
            transport.publish(f"tls/{n}", b"y" * 300, qos=1)
        got = await inbox.wait_for(300)
        await transport.close()
        return got

    got = asyncio.run(scenario())
    assert [m.topic for m in got] == [f"tls/{n}" for n in range(300)]


@pytest.mark.parametrize("name", TRANSPORTS)
def test_tls_without_the_client_certificate_is_not_let_in(
    tls_broker: tuple[Mosquitto, dict], name: str, caplog: pytest.LogCaptureFixture
) -> None:
    _broker, files = tls_broker
    config = Config(mqtt_broker="127.0.0.1", mqtt_port=files["port"], mqtt_transport=name,
                    mqtt_tls=True, mqtt_tls_ca_file=str(files["ca.crt"]))  # fmt: skip

    async def scenario() -> None:
        transport = open_transport(config, Inbox(), ("tls/#", 1))
        transport.start()
        with pytest.raises(TimeoutError):
            await transport.wait_ready(1.5)
        assert not transport.connected
        await transport.close(timeout=1)

    asyncio.run(scenario())
    assert "reconnecting" in caplog.text


@pytest.mark.parametrize("name", TRANSPORTS)
def test_a_second_broker_implementation_speaks_with_both(aedes: Aedes, name: str) -> None:
    """aedes (MQTT 3.1.1): session, subscribe, receive, ack, confirmed publish, barrier."""
    config = Config(mqtt_broker=aedes.host, mqtt_port=aedes.port, mqtt_protocol="3.1.1",
                    mqtt_transport=name)  # fmt: skip
    topic = "aedes-" + uuid.uuid4().hex[:6]

    async def scenario() -> list[InboundMessage]:
        inbox = Inbox()
        transport = await connected(config, inbox, (f"{topic}/#", 1))
        for n in range(500):
            await transport.publish_confirmed(f"{topic}/{n}", str(n).encode(), qos=1)
        got = await inbox.wait_for(500)
        assert await transport.barrier(5)
        await transport.close()
        return got

    got = asyncio.run(scenario())
    assert [m.payload for m in got] == [str(n).encode() for n in range(500)]


def test_the_default_is_the_native_client() -> None:
    assert slot_transport(Config()).__name__ == "NativeTransport"
    assert slot_transport(Config(mqtt_transport="paho")).__name__ == "MqttTransport"
