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
    source = (routed_app / "app/controllers/sensor_controller.py").read_text().splitlines()
    line = str(next(i for i, text in enumerate(source, 1) if "def process" in text))
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
            "source": "app/routers/sensors.py:8",
            "handler_source": "app/controllers/sensor_controller.py:" + line,
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
            "source": "app/routers/sensors.py:11",
            "handler_source": "app/controllers/sensor_controller.py:" + line,
        },
    ]


def test_group_comes_from_the_app_env_file(routed_app: Path, invoke) -> None:
    (routed_app / ".env").write_text("MQTT_GROUP_NAME=billing\n")
    result = invoke("route:list", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["subscription"] == "$share/billing/sensors/+/data"


def test_table(routed_app: Path, invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # not a terminal: nothing to fit
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
        "SOURCE",
    ]
    assert lines[1].split() == [
        "sensors/{device_id}/data",
        "$share/routemq/sensors/+/data",
        "3",
        "1",
        "app.controllers.sensor_controller.SensorController.process",
        "app.middleware.auth.AuthMiddleware",
        "app/routers/sensors.py:8",
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


@pytest.mark.parametrize("width", [80, 120])
def test_the_table_fits_the_terminal(
    routed_app: Path, invoke, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    result = invoke("route:list")
    assert result.exit_code == 0, result.output
    table_lines = result.output.split("\n\n")[0].splitlines()
    assert max(map(len, table_lines)) <= width, result.output
    assert "PATTERN" in table_lines[0] and "HANDLER" in table_lines[0]
    assert "sensors/{device_id}/data" in table_lines[1]
    assert "Not shown to fit the terminal: MIDDLEWARE" in result.output


@pytest.mark.parametrize(
    ("options", "patterns"),
    [
        (["--path", "alerts"], ["alerts/{device_id}/{rest:path}"]),
        (["--path", "sensors/+"], ["sensors/{device_id}/data"]),
        (
            ["--handler", "sensorcontroller.process"],
            ["sensors/{device_id}/data", "alerts/{device_id}/{rest:path}"],
        ),
        (["--handler", "Nope"], []),
        (["--path", "alerts", "--handler", "Sensor"], ["alerts/{device_id}/{rest:path}"]),
    ],
)
def test_filters(routed_app: Path, invoke, options: list[str], patterns: list[str]) -> None:
    result = invoke("route:list", *options, "--json")
    assert result.exit_code == 0, result.output
    assert [r["pattern"] for r in json.loads(result.output)] == patterns
    if not patterns:
        assert "No route matches the filter." in invoke("route:list", *options).output
