"""MQTT 5 request/response and typed payloads against a real app on a real broker:
``mosquitto_rr`` (the mosquitto clients' request/response tool) gets the handler's answer; a
payload that does not fit the handler's type is dead-lettered at once with its field errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apps import RecordingApp
from tests.support.mosquitto import Mosquitto
from tests.support.observer import Observer

pytestmark = pytest.mark.integration

ROUTER = """
import os
from dataclasses import dataclass

from routemq_runtime import Router

PREFIX = os.environ["TOPIC_PREFIX"]


@dataclass
class Ping:
    seq: int = 0


async def ping(device_id: str, payload: Ping) -> dict:
    return {"pong": device_id, "seq": payload.seq}


router = Router()
router.on(PREFIX + "/devices/{device_id}/ping", ping, qos=1)
"""


@pytest.fixture
def app(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[RecordingApp]:
    made = RecordingApp(tmp_path / "app", mosquitto, ROUTER)
    yield made
    made.cleanup()


def mosquitto_rr(broker: Mosquitto, *args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("mosquitto_rr")
    if tool is None:
        pytest.fail("mosquitto_rr is missing: apt-get install mosquitto-clients")
    argv = [tool, "-h", broker.host, "-p", str(broker.port), "-q", "1", "-W", "10", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=20)


def test_mosquitto_rr_prints_the_handlers_answer(app: RecordingApp, mosquitto: Mosquitto) -> None:
    run = app.start()
    run.wait_ready(count=1)
    request = ["-t", app.topic("devices/42/ping"), "-e", app.topic("replies/x")]

    answered = mosquitto_rr(mosquitto, *request, "-m", "{}")
    assert answered.returncode == 0, answered.stderr + run.output()
    assert json.loads(answered.stdout) == {"pong": "42", "seq": 0}
    again = mosquitto_rr(mosquitto, *request, "-m", '{"seq": 7}')
    assert json.loads(again.stdout) == {"pong": "42", "seq": 7}
    assert run.stop()[0] == 0


def test_an_invalid_payload_is_dead_lettered_at_once(
    app: RecordingApp, mosquitto: Mosquitto
) -> None:
    run = app.start()
    run.wait_ready(count=1)
    with Observer(mosquitto) as observer:
        observer.subscribe(app.dlq_filter)
        observer.publish(app.topic("devices/9/ping"), {"seq": "seven"})
        [letter] = observer.wait_for()
    body = json.loads(letter.payload)
    assert body["attempts"] == 1 and body["error_type"] == "PayloadValidationError"
    assert body["validation_errors"] == [
        {"path": "seq", "expected": "integer", "got": "string 'seven'"}
    ]
    assert run.stop()[0] == 0
    assert "rejected the payload" in run.output() and "retrying" not in run.output()
