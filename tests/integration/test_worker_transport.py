"""The MQTT transport (paho driven from an asyncio loop) against a real mosquitto."""

from __future__ import annotations

import asyncio
import functools
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.publish as paho_publish
import pytest

from routemq_runtime.config import Config
from routemq_runtime.message import InboundMessage
from routemq_runtime.routing import Router
from routemq_runtime.transport import MqttTransport, Subscription, TransportError, slot_transport
from routemq_runtime.worker import EXIT_BOOT_ERROR, SlotSpec, run_slot
from tests.support.mosquitto import Mosquitto, free_port

pytestmark = pytest.mark.integration

PROTOCOLS = ["5", "3.1.1"]


def build_config(
    broker: Mosquitto, protocol: str = "5", *, mqtt_transport: str, **extra: Any
) -> Config:
    return Config(
        mqtt_broker=broker.host,
        mqtt_port=broker.port,
        mqtt_protocol=protocol,
        mqtt_transport=mqtt_transport,
        **extra,
    )


ConfigMaker = Callable[..., Config]


@pytest.fixture
def config_for(mqtt_transport: str) -> ConfigMaker:
    """``build_config`` for the transport under test."""
    return functools.partial(build_config, mqtt_transport=mqtt_transport)


def publish(
    broker: Mosquitto, topic: str, payload: bytes = b"x", qos: int = 1, **auth: Any
) -> None:
    paho_publish.single(topic, payload, qos=qos, hostname=broker.host, port=broker.port, **auth)


class Inbox:
    """Collects messages on the loop thread and acks them, as the worker does."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, int]] = []
        self.transport: MqttTransport | None = None

    def __call__(self, message: InboundMessage) -> None:
        self.messages.append((message.topic, message.payload, message.qos))
        assert self.transport is not None
        self.transport.ack(message.mid, message.qos)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, bytes, int]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"got {self.messages}, wanted {count}"
            await asyncio.sleep(0.02)
        return self.messages


def transport_for(config: Config, inbox: Inbox, topic_filter: str, **kw: Any) -> MqttTransport:
    transport = slot_transport(config)(
        config,
        "tr-" + uuid.uuid4().hex[:8],
        [Subscription(topic_filter, 1)],
        inbox,
        reconnect_base_delay=0.05,
        reconnect_max_delay=0.3,
        **kw,
    )
    inbox.transport = transport
    return transport


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_session_survives_a_disconnect_and_queued_messages_arrive(
    config_for: ConfigMaker, mosquitto: Mosquitto, protocol: str
) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        transport = transport_for(config_for(mosquitto, protocol), inbox, "queued/#")
        transport.start()
        await transport.wait_ready(5)
        publish(mosquitto, "queued/1")
        await inbox.wait_for(1)
        await transport.close()
        assert not transport.connected

        # Offline: the broker queues for the persistent session.
        for n in range(2, 5):
            publish(mosquitto, f"queued/{n}")
        again = Inbox()
        transport2 = slot_transport(transport.config)(
            transport.config, transport.client_id, transport.subscriptions, again
        )
        again.transport = transport2
        transport2.start()
        await transport2.wait_ready(5)
        got = await again.wait_for(3)
        assert [t for t, _, _ in got] == ["queued/2", "queued/3", "queued/4"]
        await transport2.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_reconnects_after_the_broker_restarts(
    config_for: ConfigMaker, mosquitto_factory: Callable[..., Mosquitto], protocol: str
) -> None:
    broker = mosquitto_factory(persistence=True)
    ready_changes: list[bool] = []

    async def scenario() -> None:
        inbox = Inbox()
        transport = transport_for(
            config_for(broker, protocol, mqtt_keepalive=5),
            inbox,
            "restart/#",
            on_ready=ready_changes.append,
        )
        transport.start()
        await transport.wait_ready(5)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, broker.restart)
        deadline = time.monotonic() + 10
        while not (transport.subscribed and transport.reconnects == 1):
            assert time.monotonic() < deadline, "did not reconnect"
            await asyncio.sleep(0.05)
        publish(broker, "restart/after")
        assert (await inbox.wait_for(1))[0][0] == "restart/after"
        await transport.close()

    asyncio.run(scenario())
    assert ready_changes[:3] == [True, False, True]


def test_keeps_trying_until_the_broker_comes_up(
    config_for: ConfigMaker,
) -> None:
    broker = Mosquitto(port=free_port())

    async def scenario() -> None:
        inbox = Inbox()
        transport = transport_for(config_for(broker), inbox, "late/#")
        transport.start()
        await asyncio.sleep(0.5)
        assert not transport.connected and transport.fatal_error is None
        await asyncio.get_running_loop().run_in_executor(None, broker.start)
        await transport.wait_ready(10)
        await transport.close()

    try:
        asyncio.run(scenario())
    finally:
        broker.cleanup()


def test_publish_from_another_thread_goes_through_the_loop(
    config_for: ConfigMaker, mosquitto: Mosquitto
) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        transport = transport_for(config_for(mosquitto), inbox, "cross/#")
        transport.start()
        await transport.wait_ready(5)
        results: list[Any] = []
        thread = threading.Thread(
            target=lambda: results.append(transport.publish("cross/t", b"from-thread", 1))
        )
        thread.start()
        thread.join()
        assert results == [None]  # queued to the loop, not sent from the foreign thread
        got = await inbox.wait_for(1)
        assert got[0][:2] == ("cross/t", b"from-thread")
        await transport.publish_confirmed("cross/c", b"confirmed", qos=1)
        await inbox.wait_for(2)
        await transport.close()

    asyncio.run(scenario())


@pytest.fixture
def broker_files() -> Iterator[Path]:
    """A directory whose files mosquitto can read after dropping root to its own user (pytest's
    tmp_path sits under a directory only root may enter)."""
    directory = Path(tempfile.mkdtemp(prefix="routemq-broker-files-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def authenticated_broker(
    mosquitto_factory: Callable[..., Mosquitto], broker_files: Path
) -> Mosquitto:
    passwords = broker_files / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), "worker", "s3cret-pw"],
        check=True,
        capture_output=True,
    )
    passwords.chmod(0o644)
    return mosquitto_factory(extra_config=f"allow_anonymous false\npassword_file {passwords}")


def test_username_and_password_are_used(
    config_for: ConfigMaker, authenticated_broker: Mosquitto
) -> None:
    broker = authenticated_broker

    async def scenario() -> None:
        inbox = Inbox()
        cfg = config_for(broker, mqtt_username="worker", mqtt_password="s3cret-pw")
        transport = transport_for(cfg, inbox, "auth/#")
        transport.start()
        await transport.wait_ready(5)
        publish(broker, "auth/x", auth={"username": "worker", "password": "s3cret-pw"})
        await inbox.wait_for(1)
        await transport.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_wrong_password_is_fatal_not_retried_forever(
    config_for: ConfigMaker, authenticated_broker: Mosquitto, protocol: str
) -> None:
    async def scenario() -> None:
        cfg = config_for(
            authenticated_broker, protocol, mqtt_username="worker", mqtt_password="wrong-pw"
        )
        transport = transport_for(cfg, Inbox(), "auth/#")
        transport.start()
        with pytest.raises(TransportError, match="refused client"):
            await transport.wait_ready(5)
        await transport.close(timeout=1)

    asyncio.run(scenario())


def test_slot_with_refused_credentials_exits_with_boot_error(
    config_for: ConfigMaker,
    authenticated_broker: Mosquitto,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    router = Router()
    router.on("auth/{x}", lambda x: None, qos=1)
    cfg = config_for(authenticated_broker, mqtt_username="worker", mqtt_password="wrong-pw")
    spec = SlotSpec(
        slot_id="auth-x-0",
        index=0,
        route_patterns=("auth/{x}",),
        shared=False,
        group="g",
        client_id="auth-x-0-" + uuid.uuid4().hex[:6],
        config=cfg,
        ready_path=tmp_path / "ready",
    )
    # In a thread-free child: run_slot installs signal handlers, which needs the main thread.
    import multiprocessing

    child = multiprocessing.get_context("fork").Process(
        target=lambda: __import__("os")._exit(run_slot(spec, router))
    )
    child.start()
    child.join(15)
    assert child.exitcode == EXIT_BOOT_ERROR
    err = capfd.readouterr().err
    assert "Not authorized" in err or "Bad user name or password" in err
    assert "wrong-pw" not in err  # the password never reaches the log


def _make_tls_material(directory: Path) -> dict[str, Path]:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt")  # fmt: skip
    for file in directory.iterdir():
        file.chmod(0o644)
    return {name: directory / f"{name}" for name in ("ca.crt", "server.crt", "server.key")}


def test_tls_connection_verified_against_the_ca(
    mqtt_transport: str, mosquitto_factory: Callable[..., Mosquitto], broker_files: Path
) -> None:
    files = _make_tls_material(broker_files)
    tls_port = free_port()
    broker = mosquitto_factory(
        extra_config=(
            f"listener {tls_port} 127.0.0.1\n"
            f"cafile {files['ca.crt']}\ncertfile {files['server.crt']}\n"
            f"keyfile {files['server.key']}"
        )
    )

    async def scenario() -> None:
        inbox = Inbox()
        cfg = Config(
            mqtt_broker="127.0.0.1",
            mqtt_port=tls_port,
            mqtt_tls=True,
            mqtt_tls_ca_file=str(files["ca.crt"]),
            mqtt_transport=mqtt_transport,
        )
        transport = transport_for(cfg, inbox, "tls/#")
        transport.start()
        await transport.wait_ready(10)
        for n in range(50):  # enough traffic to exercise reads of buffered TLS records
            await transport.publish_confirmed(f"tls/{n}", b"y" * 200, qos=1)
        got = await inbox.wait_for(50)
        assert [t for t, _, _ in got] == [f"tls/{n}" for n in range(50)]
        await transport.close()

    asyncio.run(scenario())
    assert broker.port != tls_port


def test_unloadable_tls_file_is_a_boot_error_naming_it(tmp_path, caplog, mqtt_transport) -> None:
    """Called directly (without the app's start-up checks), a bad CA file still names itself."""
    import logging

    from routemq_runtime.config import Config
    from routemq_runtime.routing import Router
    from routemq_runtime.worker import EXIT_BOOT_ERROR, SlotSpec, run_slot

    async def handle() -> None:
        return None

    router = Router()
    router.on("jobs/+", handle, qos=1, shared=True)
    missing = str(tmp_path / "no-such-ca.pem")
    config = Config(
        mqtt_port=1, mqtt_tls=True, mqtt_tls_ca_file=missing, mqtt_transport=mqtt_transport
    )
    spec = SlotSpec(
        slot_id="jobs-plus-0",
        index=0,
        route_patterns=("jobs/+",),
        shared=True,
        group="g",
        client_id="tls-boot-test",
        config=config,
        concurrency=1,
        heartbeat_path=None,
        ready_path=None,
    )
    with caplog.at_level(logging.ERROR, logger="routemq"):
        assert run_slot(spec, router) == EXIT_BOOT_ERROR
    assert f"MQTT_TLS_CA_FILE={missing!r}" in caplog.text
