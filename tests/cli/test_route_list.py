"""``route:list``: the app's routes as a table or JSON, loaded without paho-mqtt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROUTER = """
from routemq_runtime import Router

from app.controllers.sensor_controller import SensorController
from app.middleware.auth import AuthMiddleware

router = Router()
router.on("sensors/{device_id}/data", SensorController.process, qos=1, shared=True,
          worker_count=3, middleware=[AuthMiddleware])
with router.group(prefix="alerts", middleware=[AuthMiddleware]):
    router.on("{device_id}/{rest:path}", SensorController.process)
"""


@pytest.fixture
def routed_app(app_dir: Path, invoke) -> Path:
    assert invoke("make:controller", "Sensor").exit_code == 0
    assert invoke("make:middleware", "Auth").exit_code == 0
    (app_dir / "app/routers/sensors.py").write_text(ROUTER)
    return app_dir


def test_json_lists_every_route(routed_app: Path, invoke) -> None:
    result = invoke("route:list", "--json")

    assert result.exit_code == 0, result.output
    handler = "app.controllers.sensor_controller.SensorController.process"
    auth = "app.middleware.auth.AuthMiddleware"
    assert json.loads(result.output) == [
        {
            "pattern": "sensors/{device_id}/data",
            "filter": "sensors/+/data",
            "shared": True,
            "group": "routemq",
            "subscription": "$share/routemq/sensors/+/data",
            "worker_count": 3,
            "qos": 1,
            "handler": handler,
            "middleware": [auth],
        },
        {
            "pattern": "alerts/{device_id}/{rest:path}",
            "filter": "alerts/+/#",
            "shared": False,
            "group": None,
            "subscription": "alerts/+/#",
            "worker_count": 1,
            "qos": 0,
            "handler": handler,
            "middleware": [auth],
        },
    ]


def test_group_comes_from_the_app_env_file(routed_app: Path, invoke) -> None:
    (routed_app / ".env").write_text("MQTT_GROUP_NAME=billing\n")
    result = invoke("route:list", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["subscription"] == "$share/billing/sensors/+/data"


def test_table(routed_app: Path, invoke) -> None:
    result = invoke("route:list")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "PATTERN",
        "SUBSCRIPTION",
        "WORKERS",
        "QOS",
        "HANDLER",
        "MIDDLEWARE",
    ]
    assert lines[1].split() == [
        "sensors/{device_id}/data",
        "$share/routemq/sensors/+/data",
        "3",
        "1",
        "app.controllers.sensor_controller.SensorController.process",
        "app.middleware.auth.AuthMiddleware",
    ]
    assert lines[2].split()[:4] == ["alerts/{device_id}/{rest:path}", "alerts/+/#", "1", "0"]
    assert "2 routes" in lines[-1]


def test_an_app_without_routes(app_dir: Path, invoke) -> None:
    result = invoke("route:list")
    assert result.exit_code == 0, result.output
    assert "No routes yet" in result.output
    assert json.loads(invoke("route:list", "--json").output) == []


def test_a_broken_router_is_reported_with_its_error(app_dir: Path, invoke) -> None:
    (app_dir / "app/routers/broken.py").write_text("import does_not_exist\n")
    result = invoke("route:list")
    assert result.exit_code == 1
    assert "could not load the app's routes" in result.output
    assert "does_not_exist" in result.output


def test_bad_configuration_names_the_variable(routed_app: Path, invoke) -> None:
    (routed_app / ".env").write_text("MQTT_PORT=eighty\n")
    result = invoke("route:list")
    assert result.exit_code == 1
    assert "MQTT_PORT" in result.output


def test_outside_an_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, invoke) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("route:list")
    assert result.exit_code == 1
    assert "looked for an 'app/routers/' directory" in result.output
