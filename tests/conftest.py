"""Shared fixtures. Integration tests get a real mosquitto; one broker per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.mosquitto import Mosquitto


def _start(**kwargs: object) -> Mosquitto:
    # A missing or broken broker is a failure with the reason, never a skip.
    return Mosquitto(**kwargs).start()


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
