"""Fixtures of the fault drills: one persistent broker per module, and the results table.

Every drill runs once per worker-slot transport (``[native]``, ``[paho]``): a drill is a proof
about what the slots do with messages, so none of them is exempt. The drill app gets
``MQTT_TRANSPORT`` through its environment; the table names the transport of each row. The
persistent broker stays one per module, shared by both runs (each app has its own topics,
group and client ids).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.drills.harness import DrillApp, DrillResult
from tests.support.mosquitto import Mosquitto
from tests.support.publishing import NumberedPublisher
from tests.support.transports import mqtt_transport, parametrize

__all__ = ["mqtt_transport"]

_RESULTS: list[DrillResult] = []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize(metafunc)


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    """mosquitto with persistence on (a restart keeps sessions and queued messages)."""
    started = Mosquitto(persistence=True).start()
    yield started
    started.cleanup()


@pytest.fixture
def publisher(broker: Mosquitto) -> Iterator[NumberedPublisher]:
    with NumberedPublisher(broker, prefix="drill-pub") as pub:
        yield pub


@pytest.fixture
def drill_app(tmp_path: Path, broker: Mosquitto) -> Iterator[Callable[..., DrillApp]]:
    apps: list[DrillApp] = []

    def make(workers: int = 3, **env: str) -> DrillApp:
        app = DrillApp(tmp_path / f"app{len(apps)}", broker, workers, **env)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.cleanup()


@pytest.fixture
def report(mqtt_transport: str) -> Callable[[DrillResult], None]:
    def add(result: DrillResult) -> None:
        result.name = f"{result.name} [{mqtt_transport}]"
        _RESULTS.append(result)
        print(f"\n{result.row()}")

    return add


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _RESULTS:
        return
    terminalreporter.write_sep("-", "fault drills (QoS 1, numbered messages)")
    terminalreporter.write_line(
        "| drill | published | completed | dead-lettered | missing | duplicates | s | notes |"
    )
    terminalreporter.write_line("|---|---|---|---|---|---|---|---|")
    for result in _RESULTS:
        terminalreporter.write_line(result.row())
    target = os.environ.get("ROUTEMQ_DRILL_REPORT")
    if target:
        Path(target).write_text(json.dumps([vars(r) for r in _RESULTS], indent=2))
