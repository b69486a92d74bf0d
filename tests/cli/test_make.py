"""``make:controller``, ``make:router``, ``make:middleware`` through Typer's CliRunner."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_make_controller_writes_the_class_and_its_test(app_dir: Path, invoke) -> None:
    result = invoke("make:controller", "sensor-reading")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "CREATE app/controllers/sensor_reading_controller.py",
        "CREATE tests/test_sensor_reading_controller.py",
        "Created controller SensorReadingController (2 files).",
    ]
    source = (app_dir / "app/controllers/sensor_reading_controller.py").read_text()
    [cls] = [node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)]
    assert cls.name == "SensorReadingController"
    assert [base.id for base in cls.bases] == ["Controller"]
    [handler] = [node for node in cls.body if isinstance(node, ast.AsyncFunctionDef)]
    assert [a.arg for a in handler.args.args] == ["self", "device_id", "payload", "client"]
    test = (app_dir / "tests/test_sensor_reading_controller.py").read_text()
    assert "from app.controllers.sensor_reading_controller import SensorReadingController" in test


@pytest.mark.parametrize("raw", ["Sensor", "sensor", "SensorController", "sensor_controller"])
def test_every_spelling_makes_the_same_files(app_dir: Path, invoke, raw: str) -> None:
    result = invoke("make:controller", raw)
    assert result.exit_code == 0, result.output
    assert (app_dir / "app/controllers/sensor_controller.py").is_file()
    assert (
        "class SensorController(Controller):"
        in (app_dir / "app/controllers/sensor_controller.py").read_text()
    )


def test_no_test_skips_the_test_file(app_dir: Path, invoke) -> None:
    result = invoke("make:controller", "Sensor", "--no-test")
    assert result.exit_code == 0, result.output
    assert "tests/test_sensor_controller.py" not in result.output
    assert not (app_dir / "tests/test_sensor_controller.py").exists()


def test_dry_run_prints_the_plan_and_writes_nothing(app_dir: Path, invoke) -> None:
    before = snapshot(app_dir)
    result = invoke("make:controller", "Sensor", "--dry-run")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "CREATE app/controllers/sensor_controller.py",
        "CREATE tests/test_sensor_controller.py",
        "Dry run: controller SensorController would write 2 files; nothing written.",
    ]
    assert snapshot(app_dir) == before


def test_existing_file_is_kept_without_force(app_dir: Path, invoke) -> None:
    target = app_dir / "app/controllers/sensor_controller.py"
    target.write_text("# my own work\n")
    before = snapshot(app_dir)

    result = invoke("make:controller", "Sensor")

    assert result.exit_code == 1
    assert "app/controllers/sensor_controller.py already exists" in result.output
    assert "--force" in result.output
    # Nothing at all was written: not even the test file that did not exist.
    assert snapshot(app_dir) == before


def test_existing_file_also_refused_in_a_dry_run(app_dir: Path, invoke) -> None:
    (app_dir / "tests/test_sensor_controller.py").write_text("# mine\n")
    result = invoke("make:controller", "Sensor", "--dry-run")
    assert result.exit_code == 1
    assert "tests/test_sensor_controller.py already exists" in result.output


def test_force_overwrites(app_dir: Path, invoke) -> None:
    target = app_dir / "app/controllers/sensor_controller.py"
    target.write_text("# my own work\n")

    result = invoke("make:controller", "Sensor", "--force")

    assert result.exit_code == 0, result.output
    assert "OVERWRITE app/controllers/sensor_controller.py" in result.output
    assert "CREATE tests/test_sensor_controller.py" in result.output
    assert "class SensorController" in target.read_text()


BAD_NAMES = [
    ("", "is empty"),
    ("sensors/evil", "path separator"),
    ("../evil", "path separator"),
    ("..", "path separator"),
    ("9lives", "starts with a digit"),
    ("sensor reading", "not a Python identifier"),
    ("sensor.reading", "not a Python identifier"),
    ("class", "Python keyword"),
]


@pytest.mark.parametrize("command", ["make:controller", "make:router", "make:middleware"])
@pytest.mark.parametrize(("raw", "rule"), BAD_NAMES)
def test_bad_names_write_nothing(app_dir: Path, invoke, command: str, raw: str, rule: str) -> None:
    before = snapshot(app_dir)
    result = invoke(command, raw)

    assert result.exit_code == 1, result.output
    assert rule in result.output
    assert snapshot(app_dir) == before


def test_router_named_after_a_builtin_is_refused(app_dir: Path, invoke) -> None:
    result = invoke("make:router", "list")
    assert result.exit_code == 1
    assert "would shadow the Python builtin 'list'" in result.output
    assert not (app_dir / "app/routers/list.py").exists()


@pytest.mark.parametrize("command", ["make:controller", "make:router", "make:middleware"])
def test_outside_an_app_says_what_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, invoke, command: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(command, "Sensor")

    assert result.exit_code == 1
    assert "not inside a RouteMQ app" in result.output
    assert "app/routers/" in result.output
    assert list(tmp_path.iterdir()) == []


def test_make_works_from_a_subdirectory_of_the_app(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch, invoke
) -> None:
    monkeypatch.chdir(app_dir / "app" / "controllers")
    result = invoke("make:controller", "Sensor")
    assert result.exit_code == 0, result.output
    assert (app_dir / "app/controllers/sensor_controller.py").is_file()


def test_make_router_without_controller(app_dir: Path, invoke) -> None:
    result = invoke("make:router", "SensorReadings")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "CREATE app/routers/sensor_readings.py",
        "Created router sensor_readings (1 file).",
    ]
    source = (app_dir / "app/routers/sensor_readings.py").read_text()
    assert "router = Router()" in source
    assert 'prefix="sensor-readings"' in source  # in the commented example


def test_make_router_routes_to_the_controller_under_the_prefix(app_dir: Path, invoke) -> None:
    assert invoke("make:controller", "Sensor").exit_code == 0

    result = invoke("make:router", "plant", "--controller", "Sensor", "--prefix", "plant/{site}")

    assert result.exit_code == 0, result.output
    source = (app_dir / "app/routers/plant.py").read_text()
    assert "from app.controllers.sensor_controller import SensorController" in source
    assert 'with router.group(prefix="plant/{site}"):' in source
    assert 'router.on("{device_id}", SensorController.process, qos=1)' in source


def test_route_levels_follow_the_handler_parameters(app_dir: Path, invoke) -> None:
    (app_dir / "app/controllers/meter_controller.py").write_text(
        "class MeterController:\n"
        "    async def handle(self, site, meter: int, payload, client):\n"
        "        return meter\n"
    )
    result = invoke("make:router", "meters", "--controller", "meter")
    assert result.exit_code == 0, result.output
    source = (app_dir / "app/routers/meters.py").read_text()
    assert 'router.on("{site}/{meter:int}", MeterController.handle, qos=1)' in source


def _injectable_names() -> str:
    from routemq_runtime.routing.injection import INJECTABLE

    return ", ".join(sorted(INJECTABLE))


@pytest.mark.parametrize(
    ("parameters", "pattern"),
    [
        # Every name the runtime injects (attempt, worker_id, qos, ...) is an argument, not a
        # level: a route that made them topic levels would hand the handler topic text instead.
        (f"device_id, {_injectable_names()}", "{device_id}"),
        ("site, reading: float, payload", "{site}/{reading:float}"),
    ],
    ids=["injectable names", "float level"],
)
def test_controller_parameters_become_levels_as_the_runtime_reads_them(
    app_dir: Path, invoke, parameters: str, pattern: str
) -> None:
    (app_dir / "app/controllers/meter_controller.py").write_text(
        f"class MeterController:\n    async def process(self, {parameters}):\n        pass\n"
    )
    result = invoke("make:router", "meters", "--controller", "meter")
    assert result.exit_code == 0, result.output
    source = (app_dir / "app/routers/meters.py").read_text()
    assert f'router.on("{pattern}", MeterController.process, qos=1)' in source


def test_make_router_needs_an_existing_controller(app_dir: Path, invoke) -> None:
    result = invoke("make:router", "sensors", "--controller", "Sensor")
    assert result.exit_code == 1
    assert "app/controllers/sensor_controller.py does not exist" in result.output
    assert "routemq make:controller Sensor" in result.output
    assert not (app_dir / "app/routers/sensors.py").exists()


@pytest.mark.parametrize(
    ("prefix", "rule"),
    [
        ("a/#/b", "not a valid route pattern"),
        ('sensors"x', "contains"),
        ("a//b", "not a valid route pattern"),
        ("/", "prefix is empty"),
    ],
)
def test_make_router_refuses_a_bad_prefix(app_dir: Path, invoke, prefix: str, rule: str) -> None:
    result = invoke("make:router", "sensors", "--prefix", prefix)
    assert result.exit_code == 1, result.output
    assert rule in result.output
    assert not (app_dir / "app/routers/sensors.py").exists()


def test_make_middleware(app_dir: Path, invoke) -> None:
    result = invoke("make:middleware", "rate-limit")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "CREATE app/middleware/rate_limit.py",
        "CREATE tests/test_rate_limit_middleware.py",
        "Created middleware RateLimitMiddleware (2 files).",
    ]
    source = (app_dir / "app/middleware/rate_limit.py").read_text()
    assert "class RateLimitMiddleware(Middleware):" in source
    assert "async def handle(self, context: Context, call_next" in source


def test_a_missing_package_folder_is_created_as_a_package(app_dir: Path, invoke) -> None:
    for leftover in (app_dir / "app/middleware").iterdir():
        leftover.unlink()
    (app_dir / "app/middleware").rmdir()

    result = invoke("make:middleware", "Auth", "--no-test")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == [
        "CREATE app/middleware/__init__.py",
        "CREATE app/middleware/auth.py",
    ]
    assert (app_dir / "app/middleware/__init__.py").read_text() == ""
