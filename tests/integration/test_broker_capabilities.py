"""The broker check before ready: shared subscriptions proven with a probe of the app's own.

Against aedes (a second broker implementation, with no ``$share``) the app stops with exit code
3 and one line; against mosquitto it becomes ready only after the probe, which no handler sees.
"""

from __future__ import annotations

import time

import pytest

from tests.support.apps import RecordingApp, run_runtime
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

ROUTER = """
import os
from routemq_runtime import Router

OUT = os.environ["RECORD_DIR"]
router = Router()


def record(topic, context):
    with open(os.path.join(OUT, f"{os.getpid()}.log"), "a") as f:
        f.write(f"{context.worker_id} {topic}\\n")


router.on(os.environ["TOPIC_PREFIX"] + "/#", record, shared=True, qos=1)
"""


def _lines(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if word in line]


@pytest.mark.one_transport
def test_a_broker_without_shared_subscriptions_stops_the_app(tmp_path, aedes):
    app = RecordingApp(tmp_path, aedes, ROUTER, MQTT_PROTOCOL="3.1.1")  # type: ignore[arg-type]
    result = run_runtime(["run", "--app-dir", str(app.root)], app.env, app.root)
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    lines = _lines(out, "does not support shared subscriptions")
    assert len(lines) == 1, out
    assert f"127.0.0.1:{aedes.port}" in lines[0] and "$share/" in lines[0]
    assert "subscribed:" not in out, "no worker started"


@pytest.mark.one_transport
def test_a_broker_refusing_mqtt5_suggests_3_1_1(tmp_path, aedes):
    app = RecordingApp(tmp_path, aedes, ROUTER)  # type: ignore[arg-type]
    result = run_runtime(["run", "--app-dir", str(app.root)], app.env, app.root)
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert len(_lines(out, "MQTT_PROTOCOL=3.1.1")) == 1, out


def test_ready_only_after_the_probe_which_no_handler_sees(tmp_path, mosquitto):
    app = RecordingApp(tmp_path, mosquitto, ROUTER)
    run = app.start()
    try:
        slots = run.wait_ready(timeout=20)
        status = run.status()[1]
        assert status["broker_checked"] is True and slots
        out = run.output()
        probe = out.index("delivers through $share/")
        assert probe < out.index("subscribed:"), "the probe comes before any slot subscribes"
        time.sleep(0.5)
        assert app.ledger.lines() == [], "the probe reached a handler"
        wait_for(lambda: "dead letters are kept" in run.output(), 5, "the dead-letter session")
        assert run.stop()[0] == 0
    finally:
        run.cleanup()
