"""Running a test once per worker-slot transport (``MQTT_TRANSPORT``): ``[native]`` and ``[paho]``.

The integration and drill conftests take :func:`mqtt_transport` and :func:`parametrize` from
here. A test marked ``one_transport`` runs once: nothing it checks goes through a worker slot's
MQTT client (the supervisor's own connections and the command-line tools always use paho).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from routemq_runtime.config import TRANSPORTS

MARKER = "one_transport"


def parametrize(metafunc: pytest.Metafunc) -> None:
    """Run every test that sees the ``mqtt_transport`` fixture once per transport."""
    if "mqtt_transport" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker(MARKER) is not None:
        return
    metafunc.parametrize("mqtt_transport", TRANSPORTS, indirect=True)


@pytest.fixture(autouse=True)
def mqtt_transport(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str | None]:
    """The transport under test, also in ``MQTT_TRANSPORT`` for the processes a test starts
    (``clean_env`` keeps it). None for a ``one_transport`` test, which leaves the default."""
    name = getattr(request, "param", None)
    if name is None:
        monkeypatch.delenv("MQTT_TRANSPORT", raising=False)
    else:
        monkeypatch.setenv("MQTT_TRANSPORT", name)
    yield name
