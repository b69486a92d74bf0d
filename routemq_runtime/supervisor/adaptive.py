"""AdaptiveWorkerManager: the design page's rate-based scaling on top of WorkerManager.

Two scalers exist; use one. The built-in one (``WORKER_AUTO_SCALE=true``, or this class with
``auto_scale=True``) runs inside the supervisor loop and follows measured load (handler busy
time, in-flight messages, and a rate rule when ``messages_per_worker`` is given). The page's
rule, ``monitor_and_scale()``, runs in your own asyncio loop: one worker per
``WORKER_MESSAGES_PER_SECOND`` messages per second, between ``WORKER_MIN_COUNT`` and
``WORKER_MAX_COUNT``, checked every ``interval`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from routemq_runtime.supervisor.manager import WorkerManager
from routemq_runtime.supervisor.scaling import ScalingPolicy


class AdaptiveWorkerManager(WorkerManager):
    """A WorkerManager with the page's ``monitor_and_scale`` / ``calculate_optimal_workers``.

    ``auto_scale`` (default True, the built-in load scaler) should be False when you run
    ``monitor_and_scale()``, or the two would undo each other's changes.
    """

    def __init__(
        self,
        *args: Any,
        messages_per_worker: float | None = None,
        scaling_policy: ScalingPolicy | None = None,
        auto_scale: bool = True,
        interval: float = 60.0,
        **kwargs: Any,
    ) -> None:
        policy = scaling_policy or ScalingPolicy(messages_per_worker=messages_per_worker)
        super().__init__(*args, scaling_policy=policy, auto_scale=auto_scale, **kwargs)
        self.message_rates: dict[str, float] = {}
        self.scaling_enabled = True
        self.interval = interval
        self._counted: dict[str, tuple[float, float]] = {}

    async def monitor_and_scale(self) -> None:
        """Every ``interval`` s: measure each shared route's rate and set its worker count."""
        while self.scaling_enabled:
            for route in self.get_shared_routes_info():
                current_rate = await self.get_message_rate(route["topic"])
                optimal_workers = self.calculate_optimal_workers(current_rate)
                if optimal_workers != self._current_count(route["key"], route["worker_count"]):
                    await self.scale_workers(route["topic"], optimal_workers)
            await asyncio.sleep(self.interval)

    def calculate_optimal_workers(self, message_rate: float) -> int:
        """The page's rule: ``int(rate / WORKER_MESSAGES_PER_SECOND)`` within
        ``[WORKER_MIN_COUNT, WORKER_MAX_COUNT]`` (with the defaults 100, 1, 10: the page's
        ``max(1, min(10, int(rate / 100)))``)."""
        wanted = int(message_rate / self.config.worker_messages_per_second)
        return max(self.config.worker_min_count, min(self.config.worker_max_count, wanted))

    async def get_message_rate(self, topic: str) -> float:  # type: ignore[override]
        """Messages per second received for a route (its pattern or key) since the last call,
        counted by every worker process; the first call measures over one second."""
        pattern = self._pattern(topic)
        now, total = time.monotonic(), await asyncio.to_thread(self._received, pattern)
        if pattern not in self._counted:
            self._counted[pattern] = (now, total)
            await asyncio.sleep(1.0)
            now, total = time.monotonic(), await asyncio.to_thread(self._received, pattern)
        then, before = self._counted[pattern]
        self._counted[pattern] = (now, total)
        rate = (total - before) / (now - then) if now > then else 0.0
        self.message_rates[topic] = rate
        return rate

    async def scale_workers(self, topic: str, num_workers: int) -> int:
        """Set a shared route's worker count (within its bounds); returns the count set."""
        key = self._key(topic)
        self.logger.info("scaling route %s to %d worker(s)", key, num_workers)
        return self.scale_route(key, num_workers)

    # -- helpers ---------------------------------------------------------------------------------

    def _routes(self) -> list[dict[str, Any]]:
        return self.get_shared_routes_info()

    def _pattern(self, topic: str) -> str:
        for route in self._routes():
            if topic in (route["topic"], route["key"], route["mqtt_topic"]):
                return str(route["topic"])
        raise KeyError(f"no shared route {topic!r}")

    def _key(self, topic: str) -> str:
        pattern = self._pattern(topic)
        for key, plan in self.plans.items():
            if pattern in plan.patterns:
                return key
        raise RuntimeError("scale_workers() needs the supervisor running in this process")

    def _current_count(self, route_key: str, default: int) -> int:
        for key, plan in self.plans.items():
            if key == route_key or route_key in plan.patterns:
                return self.targets.get(key, default)
        return default

    @staticmethod
    def _received(pattern: str) -> float:
        # Here: prometheus-client loads only where workers run (it reads the metrics dir).
        from routemq_runtime.metrics import RECEIVED_NAME, collecting_registry

        return sum(
            sample.value
            for family in collecting_registry().collect()
            for sample in family.samples
            if sample.name == f"{RECEIVED_NAME}_total" and sample.labels.get("route") == pattern
        )
