"""The transport a test runs on is the one its worker slots use: the parametrisation is real.

Today ``native`` still gives paho's class, so the class alone cannot tell the runs apart; what
must hold is that a slot's client is ``slot_transport(config)``'s class, with ``config`` carrying
the transport under test (through ``Config(...)`` or through ``MQTT_TRANSPORT``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from routemq_runtime.config import Config
from routemq_runtime.routing import Router
from routemq_runtime.transport import slot_transport
from routemq_runtime.worker import SlotSpec
from routemq_runtime.worker.process import Worker
from tests.support.apps import RecordingApp
from tests.support.mosquitto import Mosquitto
from tests.support.observer import Observer

pytestmark = pytest.mark.integration

# The handler looks up its own worker: no public API names the client class, and none should.
ROUTER = textwrap.dedent(
    """
    import gc
    import os

    from routemq_runtime import Router
    from routemq_runtime.transport import slot_transport
    from routemq_runtime.worker.process import Worker

    OUT = os.environ["RECORD_DIR"]
    router = Router()


    def which(n):
        worker = next(o for o in gc.get_objects() if isinstance(o, Worker))
        config = worker.spec.config
        chosen = type(worker.transport) is slot_transport(config)
        with open(os.path.join(OUT, f"{os.getpid()}.log"), "a") as f:
            f.write(f"{config.mqtt_transport} {n} {type(worker.transport).__name__} {chosen}\\n")


    router.on(os.environ["TOPIC_PREFIX"] + "/which/{n:int}", which, shared=True, qos=1)
    """
)


def test_a_worker_built_from_config_uses_slot_transport(mqtt_transport: str) -> None:
    router = Router()
    router.on("which/{n:int}", lambda n: None, qos=1, shared=True)
    config = Config(mqtt_transport=mqtt_transport)
    spec = SlotSpec(
        slot_id="which-n-0",
        index=0,
        route_patterns=("which/{n:int}",),
        shared=True,
        group="g",
        client_id="which-n-0",
        config=config,
    )
    worker = Worker(spec, list(router.routes))
    assert worker.spec.config.mqtt_transport == mqtt_transport
    assert type(worker.transport) is slot_transport(config)


def test_a_started_app_s_slots_use_the_transport_of_the_environment(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_transport: str
) -> None:
    app = RecordingApp(tmp_path / "app", mosquitto, ROUTER)
    assert app.env["MQTT_TRANSPORT"] == mqtt_transport
    expected = slot_transport(Config(mqtt_transport=mqtt_transport)).__name__
    try:
        run = app.start()
        run.wait_ready(timeout=20)
        with Observer(mosquitto, prefix="which") as observer:
            observer.publish(app.topic("which/1"), {})
        app.ledger.wait_ids({1})
        assert app.ledger.lines() == [[mqtt_transport, "1", expected, "True"]]
        assert run.stop()[0] == 0
    finally:
        app.cleanup()
