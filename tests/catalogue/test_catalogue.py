"""Every row of the bad-input catalogue (docs/errors.md), provoked the way a user would.

The runtime rows run ``python -m routemq_runtime run`` on a small app; the CLI rows run the
``routemq`` command; the broker rows run the app against a real mosquitto. Each checks the
exit code, that the message names the culprit, that no traceback is shown instead of it, and
that nothing was written (CLI) or started (runtime).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.catalogue.table import DOC, ROWS, Row, current_doc_table, render
from tests.support.apps import clean_env, launch, run_argv, run_runtime, write_app
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.polling import wait_for
from tests.support.supervised import http_get

ROUTEMQ = Path(sys.executable).parent / "routemq"
PASSWORD = "s3cret-Pa55word"  # a test broker's password

GOOD_ROUTER = """\
from routemq_runtime import Router


async def handle(payload):
    return None


router = Router()
router.on("ok/{name}", handle, qos=1)
"""

BAD_ROUTER_HEAD = """\
from routemq_runtime import Router


async def handle(payload):
    return None


router = Router()
"""


def make_app(root: Path) -> Path:
    return write_app(root, {"ok": GOOD_ROUTER}, ("app/controllers", "app/middleware", "tests"))


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    } | {str(p.relative_to(root)) + "/": b"" for p in root.rglob("*") if p.is_dir()}


def run_routemq(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(ROUTEMQ)] if ROUTEMQ.exists() else [sys.executable, "-m", "routemq_cli.main"]
    return subprocess.run(
        [*command, *argv],
        cwd=cwd,
        env={**clean_env(), "NO_COLOR": "1", "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def assert_clear(row: Row, output: str, message: str) -> None:
    assert message in output, f"row {row.id}: expected {message!r} in:\n{output}"
    assert "Traceback" not in output, f"row {row.id}: a traceback instead of a message:\n{output}"


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def params() -> list:
    out = []
    for row in ROWS:
        marks = [pytest.mark.integration] if row.kind == "broker" else []
        out.append(pytest.param(row, id=row.id, marks=marks))
    return out


@pytest.mark.parametrize("row", params())
def test_row(row: Row, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if row.kind == "cli":
        check_cli(row, tmp_path)
    elif row.kind == "broker":
        check_broker(row, tmp_path, request)
    else:
        check_runtime(row, tmp_path, request)


def check_runtime(row: Row, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    app = make_app(tmp_path / "app")
    (tmp_path / "empty").mkdir()
    not_pem = tmp_path / "not-a-ca.pem"
    not_pem.write_text("this is not a certificate\n")
    values = {"app": str(app), "empty": str(tmp_path / "empty"), "not_pem": str(not_pem)}
    if "{busy_port}" in str(row.setup) or "{busy_port}" in row.message:
        values["busy_port"] = str(request.getfixturevalue("busy_port"))
    # Nothing listens here: a row that wrongly starts would only retry, never touch a broker.
    env = clean_env(MQTT_BROKER="127.0.0.1", MQTT_PORT=str(free_port()))
    argv = ["run", "--app-dir", str(app)]
    if row.kind == "router":
        (app / "app" / "routers" / "bad.py").write_text(BAD_ROUTER_HEAD + row.setup["code"] + "\n")
    elif row.kind == "files":
        for name, content in row.setup["files"].items():
            (app / name).parent.mkdir(parents=True, exist_ok=True)
            (app / name).write_text(content)
    elif row.kind == "env":
        env.update({k: fill(v, values) for k, v in row.setup["env"].items()})
    elif row.kind == "argv":
        argv = [fill(a, values) for a in row.setup["argv"]]
    result = run_runtime(argv, env, tmp_path, timeout=20)
    output = result.stdout + result.stderr
    assert result.returncode == row.exit_code, f"row {row.id}:\n{output}"
    assert_clear(row, output, fill(row.message, values))
    assert "slot(s) for" not in output, f"row {row.id}: workers were started:\n{output}"


def check_cli(row: Row, tmp_path: Path) -> None:
    where = row.setup["where"]
    cwd = tmp_path / "work"
    cwd.mkdir()
    if where == "non_empty_demo":
        (cwd / "demo").mkdir()
        (cwd / "demo" / "notes.txt").write_text("mine\n")
    elif where in ("app", "app_with_sensor", "app_with_bad_store"):
        make_app(cwd)
        if where == "app_with_sensor":
            (cwd / "app" / "controllers" / "sensor_controller.py").write_text("# mine\n")
        if where == "app_with_bad_store":
            (cwd / "storage").mkdir()
            (cwd / "storage" / "failed.sqlite3").write_text("my notes, not a database\n" * 20)
    before = snapshot(tmp_path)
    result = run_routemq(row.setup["argv"], cwd)
    output = result.stdout + result.stderr
    assert result.returncode == row.exit_code, f"row {row.id}:\n{output}"
    assert_clear(row, output, row.message)
    assert snapshot(tmp_path) == before, f"row {row.id}: files were written or changed"


# ---------------------------------------------------------------------------- broker rows


def password_broker(mosquitto_factory, tmp_path: Path) -> Mosquitto:
    return mosquitto_factory(users={"worker": PASSWORD})


def check_broker(row: Row, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    app = make_app(tmp_path / "app")
    log = tmp_path / "app.log"
    scenario = row.setup["scenario"]
    if scenario == "missing":
        check_missing_broker(row, app, log, request)
        return
    broker = password_broker(request.getfixturevalue("mosquitto_factory"), tmp_path)
    env = clean_env(
        MQTT_BROKER=broker.host,
        MQTT_PORT=str(broker.port),
        MQTT_USERNAME="worker",
        MQTT_PASSWORD="not-" + PASSWORD,
        MQTT_PROTOCOL=row.setup["protocol"],
        ROUTEMQ_APP_NAME="creds",
        ROUTEMQ_LOG_LEVEL="DEBUG",
    )
    run = launch(run_argv(app), env, app, log, health=False)
    try:
        code = run.wait(20)
    finally:
        run.stop(15, whole_group=True)
        run.cleanup()
    output = run.output()
    assert code == row.exit_code, output
    client = re.search(r"client id '([^']+)'", output)
    assert client, output
    assert_clear(row, output, fill(row.message, {"client": client.group(1)}))
    assert "restarting in" not in output, "a refused login must not be retried by restarts"
    assert PASSWORD not in output, "the password (or a part of it) was logged"


def check_missing_broker(row: Row, app: Path, log: Path, request) -> None:
    port = free_port()
    health = free_port()
    env = clean_env(
        MQTT_BROKER="127.0.0.1",
        MQTT_PORT=str(port),
        ROUTEMQ_HEALTH_PORT=str(health),
        ROUTEMQ_HEALTH_HOST="127.0.0.1",
        ROUTEMQ_APP_NAME="nobroker",
    )
    run = launch(run_argv(app), env, app, log, health=False)
    broker = None
    try:
        time.sleep(5.0)
        output = run.output()
        assert run.process.poll() is None, f"the app gave up without a broker:\n{output}"
        attempts = output.count("reconnecting in")
        restarts = output.count("restarting in")
        assert_clear(row, output, row.message)
        assert f"connect to 127.0.0.1:{port}" in output, "the log names the broker it tries"
        # Backoff, not a storm: 0.5 s doubling (with jitter) allows at most ~6 tries in 5 s.
        assert 2 <= attempts <= 10, f"{attempts} connection attempts in 5 s:\n{output}"
        assert restarts == 0, f"{restarts} restarts without a broker:\n{output}"
        print(f"\nmissing broker: {attempts} connection attempts and {restarts} restarts in 5 s")

        # The broker comes up: the same process connects and becomes ready.
        broker = Mosquitto(port=port).start()
        wait_for(
            lambda: http_get(health, "/readyz")[0] == 200, 20, "readiness once the broker is up"
        )
        assert http_get(health, "/livez")[0] == 200
    finally:
        code, _ = run.stop(15, whole_group=True)
        run.cleanup()
        if broker is not None:
            broker.cleanup()
    assert code == row.exit_code, run.output()


# ---------------------------------------------------------------------------- the document


def test_errors_doc_shows_the_catalogue() -> None:
    assert current_doc_table(DOC.read_text()) == render(), (
        "docs/errors.md is out of date: run `python -m tests.catalogue.table`"
    )


def test_every_config_variable_has_a_row() -> None:
    import dataclasses

    from routemq_runtime.config import Config

    covered = " ".join(row.bad_input + " " + row.message for row in ROWS if row.area == "Config")
    # Free text (any value is valid) or secrets checked through their *_FILE variant.
    free = {"MQTT_USERNAME", "MQTT_PASSWORD", "MQTT_CLIENT_ID"}
    missing = [
        f.metadata["env"]
        for f in dataclasses.fields(Config)
        if f.metadata["env"] not in free and f.metadata["env"] not in covered
    ]
    assert not missing, f"config variables without a catalogue row: {missing}"


def test_row_ids_are_unique() -> None:
    ids = [row.id for row in ROWS]
    assert len(ids) == len(set(ids))
