import socket

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.one_transport]


def test_broker_accepts_connections_and_stops_by_pid(mosquitto_factory):
    broker = mosquitto_factory(persistence=True)
    pid = broker.pid
    with socket.create_connection((broker.host, broker.port), timeout=1):
        pass
    broker.stop()
    with pytest.raises(OSError):
        socket.create_connection((broker.host, broker.port), timeout=0.5).close()
    assert pid is not None
    broker.start()
    assert broker.pid != pid
