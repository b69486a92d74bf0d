"""App directories for tests, and ``python -m routemq_runtime`` run on them as users run it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path

from tests.support.ledger import Ledger
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.supervised import Supervised

REPO = Path(__file__).resolve().parents[2]
RUNTIME = [sys.executable, "-m", "routemq_runtime"]


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any RouteMQ setting, plus ``extra``.

    ``MQTT_TRANSPORT`` stays: the test run chooses the slots' client (tests/support/transports.py).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k == "MQTT_TRANSPORT"
        or not k.startswith(("MQTT_", "WORKER_", "ROUTEMQ_", "PROMETHEUS_"))
    }
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def write_app(root: Path, routers: dict[str, str], packages: Iterable[str] = ()) -> Path:
    """An app directory: ``app/routers/{name}.py`` per router source, plus empty ``packages``."""
    for package in ("app", "app/routers", *packages):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    for name, source in routers.items():
        (root / "app" / "routers" / f"{name}.py").write_text(source)
    return root


def run_runtime(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """``python -m routemq_runtime *argv`` to its end, its output captured as text."""
    return subprocess.run(
        [*RUNTIME, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def launch(
    argv: list[str], env: dict[str, str], cwd: Path, log: str | Path, health: bool = True
) -> Supervised:
    """``argv`` in the background; with ``health``, on a free loopback health port of its own."""
    port = free_port() if health else 0
    if health:
        env = {**env, "ROUTEMQ_HEALTH_PORT": str(port), "ROUTEMQ_HEALTH_HOST": "127.0.0.1"}
    return Supervised(argv, env, cwd, port, log)


def run_argv(app: Path, *args: str) -> list[str]:
    """``python -m routemq_runtime run --app-dir app *args``."""
    return [*RUNTIME, "run", "--app-dir", str(app), *args]


class RecordingApp:
    """An app with one router module whose handlers keep a :class:`Ledger`, run on ``broker``.

    The router module reads ``RECORD_DIR`` and ``TOPIC_PREFIX`` from its environment. Every app
    has a tag of its own in its topic prefix, group, app name (client ids) and dead-letter
    prefix: no session of another test collects its messages on a shared broker.
    """

    ledger_type: type[Ledger] = Ledger
    start_args: tuple[str, ...] = ()  # what every ``start()`` passes to ``run``

    def __init__(self, root: Path, broker: Mosquitto, router: str, **env: str) -> None:
        self.root = write_app(root, {"recorded": router})
        self.broker = broker
        tag = uuid.uuid4().hex[:6]
        self.prefix = f"t{tag}"
        self.ledger = self.ledger_type(root / "records")
        self.env = clean_env(
            RECORD_DIR=str(self.ledger.directory),
            TOPIC_PREFIX=self.prefix,
            MQTT_BROKER=broker.host,
            MQTT_PORT=str(broker.port),
            MQTT_GROUP_NAME=f"g{tag}",
            ROUTEMQ_APP_NAME=f"app{tag}",
            ROUTEMQ_DLQ_PREFIX=f"dlq{tag}",
            ROUTEMQ_HEALTH_HOST="127.0.0.1",
            **env,
        )
        self.runs: list[Supervised] = []

    def topic(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    @property
    def dlq_filter(self) -> str:
        return f"{self.env['ROUTEMQ_DLQ_PREFIX']}/#"

    def start(self, *args: str, argv: list[str] | None = None) -> Supervised:
        """``python -m routemq_runtime run --app-dir root *args``, or ``argv + args``."""
        argv = run_argv(self.root, *self.start_args) if argv is None else argv
        run = launch([*argv, *args], self.env, self.root, f"supervisor-{len(self.runs)}.log")
        self.runs.append(run)
        return run

    def output(self) -> str:
        return "".join(run.output() for run in self.runs)

    def cleanup(self) -> None:
        for run in self.runs:
            run.cleanup()
