"""A new user's first hour, as subprocesses on fresh virtualenvs: install RouteMQ from a clone,
create an app, run its tests, run it against mosquitto, then upgrade it to a newer template."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from routemq_cli.templating import ANSWERS_FILE
from tests.install.conftest import UserMachine, copy_clone, run
from tests.support.apps import launch
from tests.support.mosquitto import Mosquitto
from tests.support.polling import wait_for
from tests.support.supervised import http_get
from tests.template.conftest import git
from tests.template.test_upgrade import set_version

pytestmark = [pytest.mark.template, pytest.mark.integration, pytest.mark.slow]

CONTROLLER = "app/controllers/sensor_controller.py"
TEMPLATE_APP = Path("template") / "{{cookiecutter.project_slug}}"


def own_wheels(app: Path) -> list[str]:
    return sorted(p.name for p in (app / "wheels").glob("routemq_*.whl"))


def release(clone: Path, version: str) -> None:
    """What a RouteMQ release changes: the version everywhere, and here one template file."""
    version_file = clone / "routemq_runtime" / "_version.py"
    version_file.write_text(
        re.sub(r'__version__ = "[^"]+"', f'__version__ = "{version}"', version_file.read_text())
    )
    set_version(clone, version)
    controller = clone / TEMPLATE_APP / CONTROLLER
    controller.write_text(
        controller.read_text().replace("ALERT_ABOVE = 30.0", "ALERT_ABOVE = 35.0")
    )
    (clone / TEMPLATE_APP / "CHANGELOG.md").write_text(f"# Changes\n\n- {version}\n")


def handled_once(port: int) -> bool:
    _, body = http_get(port, "/metrics")
    return any(
        line.startswith("routemq_messages_processed_total{") and line.endswith(" 1.0")
        for line in body.decode().splitlines()
    )


def test_install_new_run_publish_upgrade(
    user_machine: UserMachine, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    machine, routemq = user_machine, user_machine.routemq
    started = time.monotonic()

    # `routemq new myapp` creates the app, its wheels, its git repository and its .venv.
    made = machine.timed("routemq new myapp (with install)", [routemq, "new", "myapp"], tmp_path)
    app = tmp_path / "myapp"
    for line in ("RUN python -m venv .venv", 'RUN pip install --find-links wheels -e ".[dev]"'):
        assert line in made.stdout
    assert (
        "  . .venv/bin/activate" in made.stdout
        and "pip install" not in made.stdout.split("Next:")[1]
    )
    assert own_wheels(app) == [
        "routemq_cli-0.1.0-py3-none-any.whl",
        "routemq_runtime-0.1.0-py3-none-any.whl",
    ]
    assert git(app, "status", "--porcelain") == ""
    assert "wheels/routemq_runtime-0.1.0-py3-none-any.whl" in git(app, "ls-files")
    answers = yaml.safe_load((app / ANSWERS_FILE).read_text())
    assert answers["_src_path"] == str(machine.home / ".local/share/routemq/template")

    # The printed next steps hold: the app's tests pass in its .venv, with its own routemq.
    venv_bin = app / ".venv" / "bin"
    tests = machine.timed("the app's pytest", [str(venv_bin / "pytest"), "-q"], app)
    assert "5 passed" in tests.stdout
    machine.timed("pip check", [str(venv_bin / "python"), "-m", "pip", "check"], app)

    # `routemq run --workers` handles a message that `routemq publish` sends.
    broker = {"MQTT_BROKER": "127.0.0.1", "MQTT_PORT": str(mosquitto.port)}
    env = {**machine.env, **broker}
    alerts = subprocess.Popen(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mosquitto.port), "-t", "alerts/#", "-v"],
        stdout=subprocess.PIPE,
        text=True,
    )
    running = launch(
        [str(venv_bin / "routemq"), "run", "--workers"], env, app, tmp_path / "run.log"
    )
    try:
        running.wait_ready(count=2, timeout=60)
        sent = run(
            [str(venv_bin / "routemq"), "publish", "sensors/boiler/data", '{"temperature": 64}'],
            app,
            env,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "not connected" not in sent.stderr.lower()
        wait_for(lambda: handled_once(running.port), 30, "the published message to be handled")
        machine.timings["fresh clone → first handled message"] = round(
            machine.timings["install (./scripts/install.sh)"] + time.monotonic() - started, 1
        )
        assert alerts.stdout is not None
        topic, payload = alerts.stdout.readline().strip().split(" ", 1)
        assert topic == "alerts/boiler" and json.loads(payload)["temperature"] == 64
        code, _ = running.stop()
        assert code == 0, running.output()
    finally:
        running.cleanup()
        alerts.kill()

    # An app made without the install step, and edited by its user on the line a release changes.
    machine.timed("routemq new --no-install", [routemq, "new", "other", "--no-install"], tmp_path)
    other = tmp_path / "other"
    assert not (other / ".venv").exists() and len(own_wheels(other)) == 2
    controller = other / CONTROLLER
    controller.write_text(
        controller.read_text().replace("ALERT_ABOVE = 30.0", "ALERT_ABOVE = 40.0")
    )
    git(other, "commit", "--quiet", "--all", "-m", "our threshold")

    # RouteMQ 0.2.0 comes out, its template changed; the user installs it as before.
    clone = copy_clone(tmp_path / "RouteMQ-0.2.0", machine.clone)
    release(clone, "0.2.0")
    machine.timed("install 0.2.0", [str(clone / "scripts" / "install.sh")], clone)
    assert git(Path(answers["_src_path"]), "tag", "--list").split() == ["v0.1.0", "v0.2.0"]

    with (app / "README.md").open("a") as readme:
        readme.write("\n## Our notes\n")
    git(app, "commit", "--quiet", "--all", "-m", "our notes")
    upgraded = machine.timed("routemq upgrade", [routemq, "upgrade"], app)
    assert f"UPDATE {CONTROLLER}" in upgraded.stdout
    assert "CREATE CHANGELOG.md" in upgraded.stdout
    assert "Upgraded from the template v0.1.0 to v0.2.0." in upgraded.stdout
    assert "ALERT_ABOVE = 35.0" in (app / CONTROLLER).read_text()
    assert "## Our notes" in (app / "README.md").read_text()
    assert '"routemq-runtime~=0.2.0"' in (app / "pyproject.toml").read_text()
    assert own_wheels(app) == [
        "routemq_cli-0.2.0-py3-none-any.whl",
        "routemq_runtime-0.2.0-py3-none-any.whl",
    ]
    # As the upgrade says: reinstall, and the new runtime is what the app runs.
    pip = [str(venv_bin / "python"), "-m", "pip"]
    machine.timed(
        "reinstall after upgrade", [*pip, "install", "--find-links", "wheels", "-e", ".[dev]"], app
    )
    shown = run([*pip, "show", "routemq-runtime"], app, machine.env)
    assert "Version: 0.2.0" in shown.stdout

    conflicted = run([routemq, "upgrade"], other, machine.env)
    assert conflicted.returncode == 1, conflicted.stdout + conflicted.stderr
    assert f"CONFLICT {CONTROLLER}" in conflicted.stdout
    assert "left conflicts in 1 file(s)" in conflicted.stderr
    assert "Traceback" not in conflicted.stderr

    print("\nfirst hour timings (s):", json.dumps(machine.timings, indent=1))
