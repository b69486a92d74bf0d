"""Shared fixtures. Integration tests get a real mosquitto; one broker per module."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

import pytest

from tests.support.aedes import Aedes, node_modules
from tests.support.mosquitto import Mosquitto
from tests.support.transports import MARKER as ONE_TRANSPORT


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{ONE_TRANSPORT}: involves no worker slot's MQTT client, run on one transport"
    )


def _start(**kwargs: object) -> Mosquitto:
    # A missing or broken broker is a failure with the reason, never a skip.
    return Mosquitto(**kwargs).start()


@pytest.fixture(scope="session", autouse=True)
def routemq_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pathlib.Path]:
    """RouteMQ's per-user data (the template release repository) lives in a temporary folder."""
    home = tmp_path_factory.mktemp("routemq-home")
    previous = os.environ.get("ROUTEMQ_HOME")
    os.environ["ROUTEMQ_HOME"] = str(home)
    yield home
    if previous is None:
        del os.environ["ROUTEMQ_HOME"]
    else:
        os.environ["ROUTEMQ_HOME"] = previous


@pytest.fixture(scope="module")
def mosquitto() -> Iterator[Mosquitto]:
    """A broker shared by every test of one module."""
    broker = _start()
    yield broker
    broker.cleanup()


@pytest.fixture
def mosquitto_factory() -> Iterator[callable]:
    """Start extra brokers (e.g. with persistence) that are stopped after the test."""
    started: list[Mosquitto] = []

    def start(**kwargs: object) -> Mosquitto:
        broker = _start(**kwargs)
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.cleanup()


@pytest.fixture(scope="session")
def rendered_app(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """One app rendered from this repository's template with default answers, per session.

    Shared by many tests: treat it as read-only (copy it before changing anything).
    """
    import copier

    from routemq_cli.templating import plain_template_copy

    app_dir = tmp_path_factory.mktemp("rendered") / "my_routemq_app"
    with plain_template_copy() as template:
        copier.run_copy(str(template), app_dir, defaults=True, quiet=True)
    return app_dir


@pytest.fixture(scope="module")
def aedes() -> Iterator[Aedes]:
    """aedes, a second broker implementation (MQTT 3.1.1, no shared subscriptions)."""
    modules = node_modules()
    if modules is None:
        pytest.skip("aedes is not installed (./scripts/test.sh installs it from npm)")
    broker = Aedes().start(modules)
    yield broker
    broker.stop()
