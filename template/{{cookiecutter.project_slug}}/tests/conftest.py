from collections.abc import Iterator

import pytest
from routemq_runtime.testing import TestClient

from bootstrap.app import load_router


@pytest.fixture
def client() -> Iterator[TestClient]:
    """The app's real router with an in-memory broker: no MQTT server needed."""
    with TestClient(load_router()) as test_client:
        yield test_client
