"""``routemq doctor`` against a real mosquitto: one line per check, exit 1 on any ✗."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.apps import clean_env, write_app
from tests.support.mosquitto import free_port

pytestmark = [pytest.mark.integration, pytest.mark.one_transport]
ROUTEMQ = Path(sys.executable).with_name("routemq")


def _doctor(root, **env):
    return subprocess.run(
        [str(ROUTEMQ), "doctor"],
        cwd=root,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_doctor_passes_on_mosquitto(tmp_path, mosquitto):
    root = write_app(tmp_path, {"r": "from routemq_runtime import Router\nrouter = Router()\n"})
    (root / ".env").write_text(
        f"MQTT_BROKER=127.0.0.1\nMQTT_PORT={mosquitto.port}\nROUTEMQ_APP_NAME=doc{free_port()}\n"
    )
    result = _doctor(root)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(line.startswith("✓") for line in lines), result.stdout
    for word in ("settings", "broker", "shared subscriptions", "session persistence", "sessions"):
        assert any(word in line for line in lines), (word, result.stdout)
    assert "MQTT 5, workers' client: native" in lines[0], lines[0]


def test_doctor_fails_with_the_fix_when_no_broker_answers(tmp_path):
    root = write_app(tmp_path, {"r": "from routemq_runtime import Router\nrouter = Router()\n"})
    (root / ".env").write_text(f"MQTT_BROKER=127.0.0.1\nMQTT_PORT={free_port()}\n")
    result = _doctor(root)
    assert result.returncode == 1
    assert any(line.startswith("✗ broker") and "—" in line for line in result.stdout.splitlines())
