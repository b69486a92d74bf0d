"""``routemq publish`` against a real mosquitto, with the app's .env telling it where."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import run_routemq
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.observer import Observer

pytestmark = pytest.mark.integration


@pytest.fixture
def subscriber(mosquitto: Mosquitto) -> Iterator[Observer]:
    with Observer(mosquitto) as watcher:
        watcher.subscribe("sensors/#")
        yield watcher


def point_at(app_dir: Path, broker_port: int, **extra: str) -> None:
    lines = ["MQTT_BROKER=127.0.0.1", f"MQTT_PORT={broker_port}"]
    lines += [f"{k}={v}" for k, v in extra.items()]
    (app_dir / ".env").write_text("\n".join(lines) + "\n")


def test_publishes_to_the_broker_in_the_apps_env(app_dir, mosquitto, subscriber, invoke):
    point_at(app_dir, mosquitto.port)
    result = invoke("publish", "sensors/boiler/data", '{"temperature": 64}', "--qos", "1")
    assert result.exit_code == 0, result.output
    assert "PUBLISHED sensors/boiler/data (19 bytes, qos 1)" in result.output
    message = subscriber.wait_for(timeout=5)[0]
    assert (message.topic, message.payload, message.qos) == (
        "sensors/boiler/data",
        b'{"temperature": 64}',
        1,
    )


def test_body_from_a_file_as_a_real_subprocess(app_dir, mosquitto, subscriber, tmp_path):
    point_at(app_dir, mosquitto.port, MQTT_PROTOCOL="3.1.1")
    body = tmp_path / "reading.bin"
    body.write_bytes(b"\x00\xffraw")
    result = run_routemq("publish", "sensors/raw/data", "--file", str(body), cwd=app_dir)
    assert result.returncode == 0, result.stderr
    assert subscriber.wait_for(timeout=5)[0].payload == b"\x00\xffraw"


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_successful_publish_writes_nothing_to_stderr(
    app_dir, mosquitto, subscriber, protocol: str
):
    point_at(app_dir, mosquitto.port, MQTT_PROTOCOL=protocol)
    result = run_routemq("publish", "sensors/quiet/data", "1", cwd=app_dir)
    assert result.returncode == 0, result.stderr
    assert "PUBLISHED sensors/quiet/data" in result.stdout
    assert subscriber.wait_for(timeout=5)
    assert "not connected" not in result.stderr
    assert "MQTT_CS_DISCONNECTED" not in result.stderr
    assert result.stderr.strip() == ""


def test_refused_credentials_name_the_broker(app_dir, mosquitto_factory, invoke):
    broker = mosquitto_factory(users={"worker": "right"})
    point_at(app_dir, broker.port, MQTT_USERNAME="worker", MQTT_PASSWORD="wrong-secret")
    result = invoke("publish", "sensors/x/data", "1")
    assert result.exit_code == 1
    assert f"broker 127.0.0.1:{broker.port} refused the connection" in result.output
    assert "wrong-secret" not in result.output


def test_unreachable_broker_is_a_clear_error(app_dir, invoke):
    port = free_port()
    point_at(app_dir, port)
    result = invoke("publish", "sensors/x/data", "1")
    assert result.exit_code == 1
    assert f"cannot reach the broker at 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("topic", ["sensors/+/data", "sensors/#", ""])
def test_wildcard_or_empty_topics_are_refused(app_dir, invoke, topic):
    result = invoke("publish", topic, "1")
    assert result.exit_code == 1
    assert "is not a topic to publish to" in result.output


def test_payload_and_file_together_are_refused(app_dir, invoke, tmp_path):
    body = tmp_path / "b"
    body.write_text("x")
    result = invoke("publish", "a/b", "inline", "--file", str(body))
    assert result.exit_code == 1
    assert "not both" in result.output


def test_bad_env_value_names_the_variable(app_dir, invoke):
    (app_dir / ".env").write_text("MQTT_PORT=eighty\n")
    result = invoke("publish", "a/b", "1")
    assert result.exit_code == 1
    assert "MQTT_PORT='eighty' is not an integer" in result.output
