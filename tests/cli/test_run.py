"""``routemq run`` against a real mosquitto: the app in the working directory handles messages
and stops cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.cli.conftest import ROUTEMQ
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.integration


@pytest.fixture
def watcher(mosquitto: Mosquitto) -> Iterator[tuple[mqtt.Client, queue.Queue]]:
    """A client that publishes readings and collects the alerts the app publishes back."""
    alerts: queue.Queue = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="cli-run-watcher")
    client.on_message = lambda _c, _u, message: alerts.put(message)
    client.connect(mosquitto.host, mosquitto.port)
    client.subscribe("alerts/#", qos=1)
    client.loop_start()
    yield client, alerts
    client.loop_stop()
    client.disconnect()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize(
    ("args", "slots"), [([], 1), (["--workers", "--num-workers", "2"], 2)], ids=["plain", "workers"]
)
def test_run_serves_the_app_until_sigterm(
    generated_app: Path, mosquitto: Mosquitto, watcher, args: list[str], slots: int
) -> None:
    client, alerts = watcher
    env = {
        **os.environ,
        "MQTT_BROKER": mosquitto.host,
        "MQTT_PORT": str(mosquitto.port),
        "MQTT_GROUP_NAME": f"cli-run-{slots}",
        "ROUTEMQ_APP_NAME": f"cli-run-{slots}",
    }
    app = subprocess.Popen(
        [str(ROUTEMQ), "run", *args],
        cwd=generated_app,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        reading = json.dumps({"temperature": 75})
        deadline = time.monotonic() + 30
        alert = None
        # Keep publishing until the app is subscribed and answers with an alert.
        while alert is None and time.monotonic() < deadline and app.poll() is None:
            client.publish("sensors/boiler/data", reading, qos=1)
            with contextlib.suppress(queue.Empty):
                alert = alerts.get(timeout=0.5)
        assert alert is not None, f"no alert from the app; exit code {app.poll()}"
        assert alert.topic == "alerts/boiler"
        assert json.loads(alert.payload) == {"device_id": "boiler", "temperature": 75.0}
        assert len(children_of(app.pid)) == slots

        app.send_signal(signal.SIGTERM)
        code = app.wait(timeout=30)
        output = app.stdout.read()
        assert code == 0, output
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
