"""Auto-scaling in the supervisor loop: measure each shared route's load now and then, and move
its target slot count as :class:`~routemq_runtime.supervisor.scaling.RouteScaler` decides."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping
from typing import Any

from routemq_runtime.supervisor.plan import RoutePlan
from routemq_runtime.supervisor.scaling import RouteScaler, ScalingPolicy
from routemq_runtime.supervisor.slot import Slot

logger = logging.getLogger("routemq.supervisor")


class AutoScaler:
    """Owns the per-route scaling state and the load sampler of one supervisor run."""

    def __init__(
        self, policy: ScalingPolicy, metrics_dir: str | os.PathLike[str], concurrency: int
    ) -> None:
        self.policy = policy
        self.metrics_dir = metrics_dir
        self.concurrency = concurrency
        #: Monotonic time of the next measurement.
        self.next_sample = 0.0
        self._scalers: dict[str, RouteScaler] = {}
        self._sampler: Any = None

    def rate(self, route_key: str) -> float:
        """The last measured message rate of a route, in messages/s."""
        return self._sampler.rates.get(route_key, 0.0) if self._sampler is not None else 0.0

    def adjust(
        self,
        now: float,
        plans: Mapping[str, RoutePlan],
        slots: Mapping[str, Slot],
        targets: MutableMapping[str, int],
    ) -> None:
        """When a measurement is due, set ``targets`` of the shared routes to what they need."""
        if now < self.next_sample:
            return
        self.next_sample = now + self.policy.interval
        if self._sampler is None:
            # Only an auto-scaling supervisor reads the metrics files (prometheus-client).
            from routemq_runtime.supervisor.load import LoadSampler

            self._sampler = LoadSampler(self.metrics_dir)
        samples = self._sampler.sample(plans, slots, now)
        for key, sample in samples.items():
            plan = plans[key]
            if not plan.shared:
                continue
            current = targets[key]
            load = sample.load(self.concurrency, self.policy.messages_per_worker)
            scaler = self._scalers.setdefault(key, RouteScaler(self.policy))
            wanted = scaler.decide(now, current, load, plan.minimum, plan.maximum)
            if wanted != current:
                logger.info(
                    "auto-scale: route %s %d -> %d slot(s) (%.0f msg/s, load %.2f slots)",
                    key,
                    current,
                    wanted,
                    sample.rate,
                    load,
                )
                targets[key] = wanted
