"""``routemq run --reload`` as a real subprocess in an app from the template, on mosquitto: a
change restarts the app with the new code, a change that does not load keeps the running app,
a burst of saves restarts once, Ctrl-C stops everything."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import ROUTEMQ
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.observer import Observer
from tests.support.polling import wait_for
from tests.support.processes import ctrl_c_reaches_it
from tests.support.supervised import http_get

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONTROLLER = "app/controllers/sensor_controller.py"


class Reloading:
    """``routemq run --workers --reload``, its output collected line by line."""

    def __init__(self, app: Path, health_port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "ROUTEMQ_"))}
        self.health_port = health_port
        self.process = subprocess.Popen(
            [str(ROUTEMQ), "run", "--workers", "--reload"],
            cwd=app,
            env={**env, "NO_COLOR": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=ctrl_c_reaches_it,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def reload_lines(self) -> list[str]:
        return [line for line in self.lines if line.startswith("[reload]")]

    def pids(self) -> list[int]:
        return [int(p) for p in re.findall(r"started the app \(pid (\d+)\)", "\n".join(self.lines))]

    def wait_started(self, count: int, timeout: float = 30) -> int:
        wait_for(lambda: len(self.pids()) >= count, timeout, f"start number {count}")
        wait_for(self.ready, timeout, "the app to be ready")
        return self.pids()[-1]

    def ready(self) -> bool:
        try:
            return http_get(self.health_port, "/readyz")[0] == 200
        except OSError:
            return False

    def handled(self) -> float:
        """Messages the running app has handled, from its /metrics."""
        _, body = http_get(self.health_port, "/metrics")
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.decode().splitlines()
            if line.startswith("routemq_messages_processed_total{")
        )

    def output(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def app(generated_app: Path, mosquitto: Mosquitto) -> tuple[Path, int]:
    port = free_port()
    (generated_app / ".env").write_text(
        f"MQTT_BROKER=127.0.0.1\nMQTT_PORT={mosquitto.port}\nROUTEMQ_HEALTH_PORT={port}\n"
        "ROUTEMQ_HEALTH_HOST=127.0.0.1\nROUTEMQ_DRAIN_TIMEOUT=5\nWORKER_COUNT=1\n"
    )
    return generated_app, port


@pytest.fixture
def reloading(app: tuple[Path, int]) -> Iterator[Reloading]:
    running = Reloading(*app)
    yield running
    # The reloader and the app it started: none may outlive the test.
    if running.process.poll() is None:
        running.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            running.process.wait(20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(running.process.pid, signal.SIGKILL)
    running.process.wait()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_change_restarts_the_app_with_the_new_code(
    app: tuple[Path, int], reloading: Reloading, mosquitto: Mosquitto
) -> None:
    root, _ = app
    first = reloading.wait_started(1)
    with Observer(mosquitto) as watcher:
        watcher.subscribe("alerts/#")
        watcher.publish("sensors/kitchen/data", {"temperature": 20.0})
        # The old code handled it without an alert (20 C is below its threshold).
        wait_for(lambda: reloading.handled() == 1, 15, "the first reading to be handled")
        assert watcher.received() == []

        edit(root / CONTROLLER, "ALERT_ABOVE = 30.0", "ALERT_ABOVE = 10.0")
        second = reloading.wait_started(2)
        assert second != first
        watcher.publish("sensors/kitchen/data", {"temperature": 20.0})
        [alert] = watcher.wait_for(timeout=15)
    assert alert.topic == "alerts/kitchen"
    assert f"changed: {CONTROLLER}" in reloading.output()


def test_a_broken_change_keeps_the_app_and_the_next_good_save_recovers(
    app: tuple[Path, int], reloading: Reloading
) -> None:
    root, _ = app
    first = reloading.wait_started(1)
    good = (root / CONTROLLER).read_text()
    (root / CONTROLLER).write_text(good + "\ndef broken(:\n")
    wait_for(lambda: "does not load" in reloading.output(), 20, "the load error")
    assert "SyntaxError" in reloading.output()
    assert "the running app is kept" in reloading.output()
    assert reloading.pids() == [first] and reloading.ready()
    os.kill(first, 0)  # still running

    # A burst of saves, the first of which already loads, restarts once.
    for n in range(5):
        (root / CONTROLLER).write_text(good + f"\n# save {n}\n")
        time.sleep(0.03)
    reloading.wait_started(2)
    time.sleep(1.5)
    assert len(reloading.pids()) == 2, reloading.output()

    reloading.process.send_signal(signal.SIGINT)
    assert reloading.process.wait(30) == 0, reloading.output()
    assert "Traceback" not in reloading.output()
    with pytest.raises(ProcessLookupError):
        os.kill(reloading.pids()[-1], 0)


def test_tests_and_unrelated_files_do_not_restart(
    app: tuple[Path, int], reloading: Reloading
) -> None:
    root, _ = app
    reloading.wait_started(1)
    time.sleep(0.5)  # the start itself may leave caches behind; they are not changes either
    (root / "tests" / "test_more.py").write_text("def test_x():\n    pass\n")
    (root / "notes.txt").write_text("not code\n")
    time.sleep(2.0)
    assert len(reloading.pids()) == 1
    (root / ".env").write_text((root / ".env").read_text() + "ROUTEMQ_LOG_LEVEL=INFO\n")
    reloading.wait_started(2)
    assert "changed: .env" in reloading.output()

    # SIGTERM stops the reloader and the app it runs.
    reloading.process.terminate()
    assert reloading.process.wait(30) == 0, reloading.output()
    with pytest.raises(ProcessLookupError):
        os.kill(reloading.pids()[-1], 0)
