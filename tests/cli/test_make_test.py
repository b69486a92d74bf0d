"""``make:test`` and the test ``make:router`` writes: generated tests pass in the app, as made,
and are clean under the app's own ruff settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import run_routemq
from tests.cli.test_generated_app import app_pytest
from tests.cli.test_make import snapshot

CONTROLLER = """class PlantController:
    def meters(self, site: str, meter: int, rest: str, payload):
        return {"site": site, "meter": meter, "rest": rest}

    async def temperature(self, site: str, value: float, payload):
        return value

    def status(self, topic, payload):
        return topic
"""
ROUTER = """from routemq_runtime import Router

from app.controllers.plant_controller import PlantController

router = Router()
router.on("plant/{site}/meters/{meter:int}/{rest:path}", PlantController.meters, name="meters")
router.on("plant/{site}/temp/{value:float}", PlantController.temperature)
router.on("ops/+/status/#", PlantController.status)
"""


def add_plant(app: Path) -> Path:
    (app / "app/controllers/plant_controller.py").write_text(CONTROLLER)
    (app / "app/routers/plant.py").write_text(ROUTER)
    return app


def ruff_clean(app: Path, *files: str) -> None:
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--no-cache", *files],
            cwd=app,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def routed_app(generated_app: Path) -> Path:
    return add_plant(generated_app)


@pytest.mark.parametrize(
    ("name", "file", "tests"),
    [
        ("Plant", "tests/test_plant_controller_routes.py", 3),
        ("SensorController", "tests/test_sensor_controller_routes.py", 1),
        ("meters", "tests/test_meters_route.py", 1),
        ("plant/{site}/temp/{value:float}", "tests/test_plant_site_temp_value_route.py", 1),
        ("ops/+/status/#", "tests/test_ops_status_route.py", 1),
    ],
)
def test_make_test_writes_a_passing_test_per_route(
    routed_app: Path, name: str, file: str, tests: int
) -> None:
    made = run_routemq("make:test", name, cwd=routed_app)
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[0] == f"CREATE {file}"

    ran = app_pytest(routed_app, "-q", file)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"{tests} passed" in ran.stdout
    ruff_clean(routed_app, file)


def test_the_generated_test_checks_converted_parameters(routed_app: Path) -> None:
    assert run_routemq("make:test", "meters", cwd=routed_app).returncode == 0
    source = (routed_app / "tests/test_meters_route.py").read_text()
    assert 'client.publish("plant/site-1/meters/7/a/b", {})' in source
    assert 'assert outcome.params == {"site": "site-1", "meter": 7, "rest": "a/b"}' in source


def test_make_router_writes_a_test_for_its_route(generated_app: Path) -> None:
    assert run_routemq("make:controller", "Meter", cwd=generated_app).returncode == 0
    made = run_routemq("make:router", "meters", "--controller", "Meter", cwd=generated_app)
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines() == [
        "CREATE app/routers/meters.py",
        "CREATE tests/test_meters_router.py",
        "Created router meters (2 files).",
    ]
    ran = app_pytest(generated_app, "-q", "tests/test_meters_router.py")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    ruff_clean(generated_app, "tests/test_meters_router.py")

    skipped = run_routemq("make:router", "other", "-c", "Meter", "--no-test", cwd=generated_app)
    assert skipped.returncode == 0 and not (generated_app / "tests/test_other_router.py").exists()


def test_an_unknown_name_writes_nothing(routed_app: Path, invoke) -> None:
    before = snapshot(routed_app)
    result = invoke("make:test", "Nothing")
    assert result.exit_code == 1
    assert "no route is named 'Nothing'" in result.output
    assert "routemq route:list" in result.output
    assert snapshot(routed_app) == before


def test_an_existing_test_is_kept_without_force(routed_app: Path, invoke) -> None:
    assert invoke("make:test", "meters").exit_code == 0
    path = routed_app / "tests/test_meters_route.py"
    path.write_text("# mine\n")
    refused = invoke("make:test", "meters")
    assert refused.exit_code == 1 and "use --force" in refused.output
    assert path.read_text() == "# mine\n"
    assert invoke("make:test", "meters", "--force").exit_code == 0
    assert path.read_text() != "# mine\n"


def test_a_minimal_app_without_bootstrap(app_dir: Path, invoke) -> None:
    add_plant(app_dir)
    assert invoke("make:test", "Plant").exit_code == 0
    source = (app_dir / "tests/test_plant_controller_routes.py").read_text()
    assert "RouterRegistry" in source and "bootstrap" not in source
    ran = app_pytest(app_dir, "-q", "-o", "pythonpath=.", "tests/test_plant_controller_routes.py")
    assert ran.returncode == 0, ran.stdout + ran.stderr
