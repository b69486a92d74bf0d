"""A QoS 1 publisher of numbered JSON messages ``{"id": n}``, for tests that count deliveries."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable

import paho.mqtt.client as mqtt

from tests.support.mosquitto import Mosquitto


class NumberedPublisher:
    """A plain paho client (MQTT 3.1.1, own network thread); every batch waits for its PUBACKs.

    ``max_inflight`` bounds the unconfirmed messages, and so how hard a batch pushes the broker;
    ``credentials`` and ``tls`` (``ca``, ``cert``, ``key`` file names) are for brokers that ask.
    """

    def __init__(
        self,
        broker: Mosquitto,
        *,
        max_inflight: int = 100,
        prefix: str = "pub",
        credentials: tuple[str, str] | None = None,
        tls: dict[str, str] | None = None,
        ack_timeout: float = 30.0,
    ) -> None:
        self.ack_timeout = ack_timeout
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"{prefix}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
        )
        self.client.max_inflight_messages_set(max_inflight)
        if credentials:
            self.client.username_pw_set(*credentials)
        if tls:
            self.client.tls_set(ca_certs=tls["ca"], certfile=tls["cert"], keyfile=tls["key"])
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(
        self, topic: str, ids: Iterable[int], per_second: float = 0, pause_every: int = 0
    ) -> None:
        """Publish ``{"id": n}`` for each id, paced at ``per_second`` or with a 10 ms pause
        after every ``pause_every`` messages (0: as fast as paho takes them)."""
        gap = 1.0 / per_second if per_second else 0.0
        started = time.monotonic()
        infos = []
        for n, i in enumerate(ids):
            infos.append(self.client.publish(topic, json.dumps({"id": i}), qos=1))
            if gap:
                delay = started + n * gap - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if pause_every and n % pause_every == pause_every - 1:
                time.sleep(0.01)
        self._confirmed(infos)

    def publish_raw(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Publish each ``(topic, payload)`` as it is."""
        self._confirmed([self.client.publish(topic, payload, qos=1) for topic, payload in items])

    def in_background(
        self, topic: str, ids: Iterable[int], per_second: float = 0, pause_every: int = 0
    ) -> threading.Thread:
        """:meth:`publish` on a thread of its own, already started."""
        thread = threading.Thread(
            target=self.publish, args=(topic, list(ids), per_second, pause_every)
        )
        thread.start()
        return thread

    def _confirmed(self, infos: list[mqtt.MQTTMessageInfo]) -> None:
        for info in infos:
            info.wait_for_publish(self.ack_timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> NumberedPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
