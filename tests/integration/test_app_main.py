"""``python -m routemq_runtime run`` and a generated app's ``main.py`` on a real broker."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.test_supervisor_broker import ROUTER_MODULE, App
from tests.support.apps import clean_env, run_runtime, write_app
from tests.support.mosquitto import free_port
from tests.support.polling import wait_for
from tests.support.supervised import Supervised, http_get

pytestmark = pytest.mark.integration


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 30):
    return run_runtime(list(args), clean_env(**(env or {})), cwd, timeout)


def routes_by_key(slots: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for slot in slots:
        counts[slot["route"]] = counts.get(slot["route"], 0) + 1
    return counts


@pytest.fixture
def app(tmp_path, mosquitto):
    made = App(tmp_path / "app", mosquitto, "jobs/{kind}=3,other/{kind}=2,direct/{kind}=0")
    yield made
    made.cleanup()


def test_without_workers_every_route_gets_one_shared_slot(app):
    run = app.start()
    slots = run.wait_ready(count=3)
    p = app.prefix
    assert routes_by_key(slots) == {f"{p}-jobs-kind": 1, f"{p}-other-kind": 1, "direct": 1}
    group = app.env["MQTT_GROUP_NAME"]
    assert f"subscribed: $share/{group}/{p}/jobs/+" in run.output()
    assert run.stop()[0] == 0


def test_workers_use_route_counts_and_num_workers_is_their_total(app):
    run = app.start("--workers")
    p = app.prefix
    slots = run.wait_ready(count=6)
    assert routes_by_key(slots) == {f"{p}-jobs-kind": 3, f"{p}-other-kind": 2, "direct": 1}
    assert run.stop()[0] == 0

    # 7 in total, shared 3:2 -> 4 and 3 (plus the slot of the non-shared routes).
    run = app.start("--num-workers", "7", "--group", "blue")
    slots = run.wait_ready(count=8)
    assert routes_by_key(slots) == {f"{p}-jobs-kind": 4, f"{p}-other-kind": 3, "direct": 1}
    assert f"subscribed: $share/blue/{p}/jobs/+" in run.output()
    assert run.stop()[0] == 0


def test_worker_count_from_the_environment_applies_with_workers(app):
    app.env["WORKER_COUNT"] = "1"
    run = app.start("--workers")
    slots = run.wait_ready(count=3)
    assert set(routes_by_key(slots).values()) == {1}
    assert run.stop()[0] == 0


def test_generated_main_py_reads_the_app_env_file(app, tmp_path):
    port = free_port()
    (app.root / ".env").write_text(
        f"MQTT_BROKER={app.broker.host}\nMQTT_PORT={app.broker.port}\nROUTEMQ_HEALTH_PORT={port}\n"
    )
    (app.root / "main.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            from routemq_runtime.app import main

            if __name__ == "__main__":
                raise SystemExit(main(app_dir=Path(__file__).parent))
            """
        )
    )
    env = {k: v for k, v in app.env.items() if k not in ("MQTT_PORT", "MQTT_BROKER")}
    run = Supervised([sys.executable, str(app.root / "main.py")], env, tmp_path, port)
    app.runs.append(run)
    run.wait_ready(count=3)
    assert http_get(port, "/livez")[0] == 200
    assert run.stop()[0] == 0


@pytest.mark.one_transport
def test_a_router_that_fails_to_import_stops_start_up_naming_the_module(tmp_path):
    root = write_app(tmp_path / "app", {"recorded": ROUTER_MODULE})
    (root / "app" / "routers" / "broken.py").write_text("import not_a_module_anywhere\n")
    result = run_cli("run", "--app-dir", str(root), cwd=tmp_path)
    assert result.returncode == 1
    assert "app.routers.broken" in result.stderr
    assert "not_a_module_anywhere" in result.stderr


@pytest.mark.one_transport
def test_bad_configuration_and_arguments_are_refused_with_the_culprit(tmp_path):
    root = write_app(tmp_path / "app", {"recorded": ROUTER_MODULE})
    env = {"MQTT_PORT": "eighty", "ROUTES": "a=1", "TOPIC_PREFIX": "x", "RECORD_DIR": "."}
    result = run_cli("run", "--app-dir", str(root), cwd=tmp_path, env=env)
    assert result.returncode == 2 and "MQTT_PORT='eighty'" in result.stderr

    result = run_cli("run", "--num-workers", "0", "--app-dir", str(root), cwd=tmp_path)
    assert result.returncode == 2 and "--num-workers" in result.stderr

    result = run_cli("run", "--app-dir", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode == 2 and "app/routers" in result.stderr

    result = run_cli("launch", cwd=tmp_path)
    assert result.returncode == 2 and "unknown command 'launch'" in result.stderr
    assert run_cli("--help", cwd=tmp_path).returncode == 0


@pytest.mark.one_transport
def test_without_a_broker_the_log_says_once_what_to_start(tmp_path):
    root = write_app(tmp_path / "app", {"recorded": ROUTER_MODULE})
    port = free_port()
    env = clean_env(
        MQTT_BROKER="127.0.0.1",
        MQTT_PORT=str(port),
        ROUTES="hint/{kind}=1",
        TOPIC_PREFIX="x",
        RECORD_DIR=str(tmp_path),
    )
    argv = [sys.executable, "-m", "routemq_runtime", "run", "--app-dir", str(root)]
    run = Supervised(argv, env, tmp_path, 0)
    try:
        # Retries go on after the hint: wait for a later attempt, then count the hints.
        wait_for(lambda: "(attempt 4)" in run.output(), 30, "a fourth connection attempt")
        output = run.output()
        hints = [line for line in output.splitlines() if "no MQTT broker answers" in line]
        assert len(hints) == 1, output
        assert f"127.0.0.1:{port}" in hints[0]
        assert f"mosquitto -p {port}" in hints[0]
        assert "MQTT_BROKER/MQTT_PORT" in hints[0]
        assert run.stop()[0] == 0
    finally:
        run.cleanup()
