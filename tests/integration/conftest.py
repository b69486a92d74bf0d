"""Every integration test runs once per worker-slot transport, ids ``[native]`` and ``[paho]``.

Both clients must behave the same wherever a worker slot speaks MQTT, so that is the default:
a new test here runs on both without asking. Processes a test starts get ``MQTT_TRANSPORT`` in
their environment; a test that builds ``Config(...)`` itself passes ``mqtt_transport=``.

Marked ``one_transport`` (run once) are the tests where no slot's client is involved, as doubling
them would only add minutes: the broker fixture, ``routemq doctor``, the supervisor loop with a
stand-in slot, log formatting, metric and spec helpers, start-up refused before any slot exists,
the broker checks the supervisor makes with paho before slots start, and the failed-message
store when it cannot be written (the keeper and the CLI use paho; the slot's dead letter is the
same as in the test before it, which runs on both). The broker stays one per module.
"""

from __future__ import annotations

import pytest

from tests.support.transports import mqtt_transport, parametrize

__all__ = ["mqtt_transport"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize(metafunc)
