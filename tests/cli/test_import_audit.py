"""Commands that do not render a whole app stay light: no copier, cookiecutter or paho-mqtt.

Each command runs in a fresh interpreter; afterwards the wrapper reports which of the heavy
top-level packages ended up in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import minimal_app

AUDIT = """
import json, sys
sys.argv = ["routemq", *json.loads(sys.argv[1])]
from routemq_cli.main import run
try:
    run()
except SystemExit as exit:
    code = exit.code
else:
    code = 0
loaded = sorted({name.split(".")[0] for name in sys.modules})
print("AUDIT " + json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""

NEVER = {"copier", "cookiecutter", "paho"}
# Beyond NEVER: what each command must not load either.
ALSO_NOT = {
    # A generator needs only Typer: no template engine, no runtime, no pydantic (Typer's
    # coercion of plain str/bool parameters is skipped), no rich (help output only).
    "make:controller": {"jinja2", "routemq_runtime", "pydantic", "rich"},
    # make:router checks its topic prefix with the runtime's own (pure) pattern parser.
    "make:router": {"jinja2", "pydantic", "rich"},
    "make:middleware": {"jinja2", "routemq_runtime", "pydantic", "rich"},
    "stub:publish": {"jinja2", "routemq_runtime", "pydantic", "rich"},
    "route:list": {"jinja2"},
    "--help": {"jinja2", "routemq_runtime"},
    "completion": {"jinja2", "routemq_runtime"},
}


def audit(args: list[str], cwd: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", AUDIT, json.dumps(args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    [line] = [line for line in result.stderr.splitlines() if line.startswith("AUDIT ")]
    report = json.loads(line.removeprefix("AUDIT "))
    report["output"] = result.stdout + result.stderr
    return report


@pytest.fixture(scope="module")
def audited_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = minimal_app(tmp_path_factory.mktemp("audit"))
    (root / "app/controllers/sensor_controller.py").write_text(
        "class SensorController:\n    async def process(self, device_id, payload):\n        pass\n"
    )
    (root / "app/routers/sensors.py").write_text(
        "from routemq_runtime import Router\n"
        "from app.controllers.sensor_controller import SensorController\n"
        "router = Router()\n"
        "router.on('sensors/{device_id}', SensorController.process, shared=True, worker_count=2)\n"
    )
    return root


@pytest.mark.parametrize(
    "args",
    [
        ["make:controller", "Audit"],
        ["make:controller", "Audited", "--dry-run"],
        ["make:router", "audit"],
        ["make:middleware", "Audit"],
        ["stub:publish"],
        ["route:list"],
        ["route:list", "--json"],
        ["--help"],
        ["completion", "bash"],
    ],
    ids=" ".join,
)
def test_command_imports_stay_light(audited_app: Path, args: list[str]) -> None:
    report = audit(args, audited_app)

    assert report["code"] == 0, report["output"]
    forbidden = NEVER | ALSO_NOT[args[0]]
    assert sorted(forbidden & set(report["loaded"])) == [], report["output"]


def test_the_audit_sees_heavy_imports(audited_app: Path) -> None:
    # The wrapper does report a heavy import when one happens: run a command that needs copier.
    target = audited_app.parent / "audit_new_app"
    report = audit(
        ["new", str(target), "--defaults", "--no-git", "--no-install"], audited_app.parent
    )
    assert report["code"] == 0, report["output"]
    assert "copier" in report["loaded"]
