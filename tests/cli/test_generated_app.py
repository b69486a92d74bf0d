"""Every command as a real subprocess inside an app rendered from the template: generated code
is picked up by the app's own tests and by ``route:list``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import run_routemq
from tests.cli.test_make import BAD_NAMES, snapshot


def app_pytest(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The app's own test suite, run the way its README says."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_generated_controller_and_router_are_seen_by_the_app(generated_app: Path) -> None:
    made = run_routemq("make:controller", "meter-reading", cwd=generated_app)
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines() == [
        "CREATE app/controllers/meter_reading_controller.py",
        "CREATE tests/test_meter_reading_controller.py",
        "Created controller MeterReadingController (2 files).",
    ]
    routed = run_routemq(
        "make:router",
        "meters",
        "--controller",
        "MeterReading",
        "--prefix",
        "meters",
        cwd=generated_app,
    )
    assert routed.returncode == 0, routed.stderr
    middleware = run_routemq("make:middleware", "Audit", cwd=generated_app)
    assert middleware.returncode == 0, middleware.stderr

    tests = app_pytest(generated_app, "-v")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    for test in (
        "tests/test_meter_reading_controller.py::test_process_returns_a_summary PASSED",
        "tests/test_meter_reading_controller.py::test_process_acknowledges_the_message PASSED",
        "tests/test_audit_middleware.py::test_message_passes_through_to_the_handler PASSED",
    ):
        assert test in tests.stdout, tests.stdout

    listed = run_routemq("route:list", "--json", cwd=generated_app)
    assert listed.returncode == 0, listed.stderr
    routes = {route["pattern"]: route for route in json.loads(listed.stdout)}
    assert routes["meters/{device_id}"] == {
        "pattern": "meters/{device_id}",
        "filter": "meters/+",
        "shared": False,
        "group": None,
        "subscription": "meters/+",
        "worker_count": 1,
        "qos": 1,
        "handler": "app.controllers.meter_reading_controller.MeterReadingController.process",
        "middleware": [],
        "source": routes["meters/{device_id}"]["source"],
        "handler_source": routes["meters/{device_id}"]["handler_source"],
    }
    assert routes["meters/{device_id}"]["source"].startswith("app/routers/meters.py:")
    assert routes["meters/{device_id}"]["handler_source"].startswith(
        "app/controllers/meter_reading_controller.py:"
    )
    # The template's own shared route is listed with the app's group from .env.
    example = routes["sensors/{device_id}/data"]
    assert example["shared"] is True
    assert example["subscription"] == f"$share/{example['group']}/sensors/+/data"

    table = run_routemq("route:list", cwd=generated_app)
    assert table.returncode == 0, table.stderr
    assert any(
        line.split()[:2] == ["meters/{device_id}", "meters/+"] for line in table.stdout.splitlines()
    )


def test_generated_code_is_lint_clean(generated_app: Path) -> None:
    for args in (
        ["make:controller", "Meter"],
        ["make:router", "meters", "--controller", "Meter"],
        ["make:router", "empty"],
        ["make:middleware", "rate-limit"],
    ):
        result = run_routemq(*args, cwd=generated_app)
        assert result.returncode == 0, result.stderr
    files = [
        "app/controllers/meter_controller.py",
        "tests/test_meter_controller.py",
        "app/routers/meters.py",
        "app/routers/empty.py",
        "app/middleware/rate_limit.py",
        "tests/test_rate_limit_middleware.py",
    ]
    # The app's own ruff settings (pyproject.toml) apply.
    for check in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *check, *files],
            cwd=generated_app,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_existing_example_controller_is_not_overwritten(generated_app: Path) -> None:
    target = generated_app / "app/controllers/sensor_controller.py"
    before = target.read_bytes()

    result = run_routemq("make:controller", "Sensor", cwd=generated_app)

    assert result.returncode == 1
    assert "app/controllers/sensor_controller.py already exists" in result.stderr
    assert "--force" in result.stderr
    assert target.read_bytes() == before
    assert not (generated_app / "tests/test_sensor_controller.py").exists()


@pytest.mark.parametrize("command", ["make:controller", "make:router", "make:middleware"])
def test_bad_names_in_a_subprocess(generated_app: Path, command: str) -> None:
    before = snapshot(generated_app)
    for raw, rule in BAD_NAMES:
        result = run_routemq(command, raw, cwd=generated_app)
        assert result.returncode == 1, (raw, result.stdout, result.stderr)
        assert rule in result.stderr, (raw, result.stderr)
    assert snapshot(generated_app) == before


def test_dry_run_and_stub_override_in_a_subprocess(generated_app: Path) -> None:
    before = snapshot(generated_app)
    dry = run_routemq("make:controller", "Meter", "--dry-run", cwd=generated_app)
    assert dry.returncode == 0, dry.stderr
    assert "CREATE app/controllers/meter_controller.py" in dry.stdout
    assert snapshot(generated_app) == before

    published = run_routemq("stub:publish", cwd=generated_app)
    assert published.returncode == 0, published.stderr
    stub = generated_app / "stubs/controller.stub"
    stub.write_text(
        stub.read_text().replace("Handles messages", "House-style handler for messages")
    )
    made = run_routemq("make:controller", "Meter", cwd=generated_app)
    assert made.returncode == 0, made.stderr
    source = (generated_app / "app/controllers/meter_controller.py").read_text()
    assert "House-style handler for messages" in source
    tests = app_pytest(generated_app, "-q")
    assert tests.returncode == 0, tests.stdout + tests.stderr


@pytest.mark.parametrize(
    "args", [["make:controller", "X"], ["route:list"], ["run"], ["stub:publish"]]
)
def test_outside_an_app_in_a_subprocess(tmp_path: Path, args: list[str]) -> None:
    result = run_routemq(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert "not inside a RouteMQ app: looked for an 'app/routers/' directory" in result.stderr
    assert list(tmp_path.iterdir()) == []
