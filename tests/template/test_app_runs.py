"""A new app, unchanged, runs its workers against a real mosquitto and handles a message."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.support.mosquitto import Mosquitto, free_port

pytestmark = [pytest.mark.integration, pytest.mark.template]


@pytest.fixture
def running_app(
    routemq: Any, mosquitto: Mosquitto, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    result = routemq("new", "demo", "--defaults", "--no-git", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    health_port = free_port()
    env = {
        **os.environ,
        "MQTT_BROKER": mosquitto.host,
        "MQTT_PORT": str(mosquitto.port),
        "MQTT_GROUP_NAME": f"demo-{health_port}",
        "ROUTEMQ_HEALTH_PORT": str(health_port),
        "ROUTEMQ_DRAIN_TIMEOUT": "5",
    }
    log = (tmp_path / "app.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "main.py", "--workers"],
        cwd=tmp_path / "demo",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_ready(health_port, process, tmp_path / "app.log")
        yield process, health_port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def wait_ready(port: int, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the app exited early:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the app never became ready:\n{log.read_text()}")


def test_generated_app_handles_a_published_message_and_stops_cleanly(
    running_app: tuple[subprocess.Popen[str], int], mosquitto: Mosquitto
) -> None:
    process, _ = running_app
    alerts: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    observer = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="demo-observer")
    subscribed = threading.Event()
    observer.on_message = lambda client, userdata, message: alerts.put(message)
    observer.on_subscribe = lambda *args: subscribed.set()
    observer.connect(mosquitto.host, mosquitto.port)
    observer.loop_start()
    try:
        observer.subscribe("alerts/#", qos=1)
        assert subscribed.wait(5), "the observer's subscription was not acknowledged"
        info = observer.publish("sensors/boiler/data", json.dumps({"temperature": 80}), qos=1)
        info.wait_for_publish(timeout=5)

        alert = alerts.get(timeout=10)
        assert alert.topic == "alerts/boiler"
        assert json.loads(alert.payload) == {"device_id": "boiler", "temperature": 80.0}
    finally:
        observer.loop_stop()
        observer.disconnect()

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
