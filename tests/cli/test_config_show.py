"""``routemq config:show``: effective settings, their source, secrets masked."""

from __future__ import annotations

import json

import pytest


def settings(invoke) -> dict[str, dict[str, object]]:
    result = invoke("config:show", "--json")
    assert result.exit_code == 0, result.output
    return {entry["variable"]: entry for entry in json.loads(result.output)}


def test_values_and_where_they_come_from(app_dir, invoke, monkeypatch: pytest.MonkeyPatch):
    (app_dir / ".env").write_text("MQTT_BROKER=broker.local\nMQTT_PORT=1999\n")
    monkeypatch.setenv("MQTT_PORT", "2000")  # the real environment wins over .env
    shown = settings(invoke)
    assert shown["MQTT_BROKER"] == {
        "variable": "MQTT_BROKER",
        "value": "broker.local",
        "source": ".env",
    }
    assert shown["MQTT_PORT"]["value"] == 2000
    assert shown["MQTT_PORT"]["source"] == "environment"
    assert shown["WORKER_CONCURRENCY"] == {
        "variable": "WORKER_CONCURRENCY",
        "value": 100,
        "source": "default",
    }


def test_secrets_are_masked_in_both_forms(app_dir, invoke, tmp_path):
    secret = tmp_path / "password"
    secret.write_text("hunter2\n")
    (app_dir / ".env").write_text(f"MQTT_USERNAME=worker\nMQTT_PASSWORD_FILE={secret}\n")
    shown = settings(invoke)
    assert shown["MQTT_PASSWORD"]["value"] == "***"
    assert shown["MQTT_PASSWORD"]["source"] == ".env (file)"
    table = invoke("config:show")
    assert table.exit_code == 0
    assert "hunter2" not in table.output and "MQTT_PASSWORD" in table.output


def test_bad_value_names_the_variable(app_dir, invoke):
    (app_dir / ".env").write_text("WORKER_MIN_COUNT=5\nWORKER_MAX_COUNT=2\nMQTT_PORT=0\n")
    result = invoke("config:show")
    assert result.exit_code == 1
    assert "MQTT_PORT='0' must be between 1 and 65535" in result.output
    assert "WORKER_MIN_COUNT=5 is greater than WORKER_MAX_COUNT=2" in result.output


def test_outside_an_app(tmp_path, invoke, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("config:show")
    assert result.exit_code == 1
    assert "app/routers/" in result.output
