"""A plain MQTT client in the test process: it publishes, and records what its subscriptions
receive, so a test can wait for a message instead of sleeping."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from tests.support.mosquitto import Mosquitto
from tests.support.polling import poll


class Observer:
    """Connected on creation (MQTT 5, its own network thread); ``close()`` when done."""

    def __init__(self, broker: Mosquitto, *, prefix: str = "observer") -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"{prefix}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = 5.0) -> None:
        """Subscribe and wait for the SUBACK: from then on nothing published is missed."""
        done = threading.Event()
        self.client.on_subscribe = lambda *args: done.set()
        self.client.subscribe(topic_filter, qos)
        assert done.wait(timeout), f"no SUBACK for {topic_filter}"

    def publish(self, topic: str, payload: Any, qos: int = 1) -> None:
        """Publish (dicts and lists as JSON) and wait until the broker took it."""
        if not isinstance(payload, bytes | str):
            payload = json.dumps(payload)
        self.client.publish(topic, payload, qos=qos).wait_for_publish(5)

    def received(self) -> list[mqtt.MQTTMessage]:
        """What arrived so far, in arrival order."""
        with self._lock:
            return list(self.messages)

    def wait_for(
        self,
        predicate: Callable[[mqtt.MQTTMessage], bool] = lambda message: True,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[mqtt.MQTTMessage]:
        """The matching messages once at least ``count`` arrived; fails the test on timeout."""

        def matching() -> list[mqtt.MQTTMessage]:
            return [m for m in self.received() if predicate(m)]

        if not poll(lambda: len(matching()) >= count, timeout):
            raise AssertionError(
                f"observer saw {len(matching())} matching messages, wanted {count}"
            )
        return matching()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Observer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
