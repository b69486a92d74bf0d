"""Stand-ins for the broker side of a worker, for tests that run without mosquitto.

:class:`FakeTransport` records what the pipeline asks of the transport (acks, dead letters,
pauses, resets); :class:`RecordingMetrics` counts what the pipeline reports.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any


class FakeTransport:
    """The part of :class:`~routemq_runtime.transport.MqttTransport` the pipeline uses."""

    def __init__(self) -> None:
        self.acks: list[int] = []
        self.confirmed: list[tuple[str, bytes, int, Any]] = []
        self.reading_paused = False
        self.pauses = 0
        self.resumes = 0
        self.resets: list[str] = []
        self.fail_publishes = False

    def ack(self, mid: int, qos: int) -> None:
        self.acks.append(mid)

    def pause_reading(self) -> None:
        if not self.reading_paused:
            self.pauses += 1
        self.reading_paused = True

    def resume_reading(self) -> None:
        if self.reading_paused:
            self.resumes += 1
        self.reading_paused = False

    def reset_connection(self, why: str) -> None:
        self.resets.append(why)

    async def publish_confirmed(
        self, topic: str, payload: bytes = b"", qos: int = 1, retain: bool = False, properties=None
    ) -> None:
        await asyncio.sleep(0)
        if self.fail_publishes:
            raise ConnectionError("the broker went away")
        self.confirmed.append((topic, payload, qos, properties))

    def build_properties(self, user_properties: Sequence[tuple[str, str]]) -> Any:
        return list(user_properties)


class RecordingMetrics:
    """The part of :class:`~routemq_runtime.metrics.SlotMetrics` the pipeline uses."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, ...]] = Counter()

    def received(self, route: str) -> None:
        self.counts["received", route] += 1

    def processed(self, route: str, outcome: str) -> None:
        self.counts["processed", route, outcome] += 1

    def observe(self, route: str, seconds: float) -> None:
        self.counts["observed", route] += 1

    def retried(self, route: str) -> None:
        self.counts["retried", route] += 1

    def error(self, route: str, error_type: str) -> None:
        self.counts["error", route, error_type] += 1

    def dead_lettered(self, route: str, reason: str) -> None:
        self.counts["dead_lettered", route, reason] += 1

    def busy(self, seconds: float) -> None:
        self.counts["busy"] += 1
