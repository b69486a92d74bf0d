"""``routemq run`` wiring, in-process: options reach the runtime and its exit code comes back.

(Serving real messages is covered against mosquitto in test_run.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest


def test_run_outside_an_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, invoke) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("run")
    assert result.exit_code == 1
    assert "not inside a RouteMQ app" in result.output


def test_runtime_exit_code_and_message_come_through(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch, invoke
) -> None:
    # A configuration error makes the runtime stop before connecting, with exit code 2.
    monkeypatch.setenv("MQTT_PORT", "eighty")
    result = invoke("run", "--workers", "--num-workers", "2", "--group", "g")
    assert result.exit_code == 2, result.output
    assert "MQTT_PORT='eighty'" in result.output


def test_a_broken_router_stops_run(app_dir: Path, invoke) -> None:
    (app_dir / "app/routers/broken.py").write_text("raise RuntimeError('boom at import')\n")
    result = invoke("run")
    assert result.exit_code == 1, result.output


def test_num_workers_must_be_positive(app_dir: Path, invoke) -> None:
    result = invoke("run", "--num-workers", "0")
    assert result.exit_code == 2
    assert "--num-workers" in result.output
