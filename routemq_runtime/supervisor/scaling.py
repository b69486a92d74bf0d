"""Auto-scaling decisions: how many slots a shared route should have, given its load.

Pure: the supervisor feeds it measurements and applies the answer. The load of a route is
expressed in *slots' worth of work*:

- CPU: the CPU seconds its slot processes used per second (a CPU-bound handler saturates a
  slot at 1.0);
- in-flight: handler seconds per second (by Little's law, the average number of handlers
  running) divided by the slot's concurrency (an I/O-bound handler saturates a slot when every
  in-flight place is taken);
- optionally the message rate divided by a configured per-slot capacity.

The largest of these is the load. Hysteresis keeps it from flapping: scale up at once (to the
count that brings utilisation back to the target) when utilisation is above ``high``; scale
down one slot at a time, and only after the load has stayed low enough for ``keepalive``
seconds that the remaining slots would stay below ``low``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ScalingPolicy:
    high: float = 0.75
    target: float = 0.6
    low: float = 0.5
    keepalive: float = 30.0
    #: After a change, new slots need time to connect before their effect shows in the load.
    cooldown: float = 5.0
    #: Seconds between load measurements.
    interval: float = 2.0
    #: Messages per second one slot is expected to handle (None: use CPU and in-flight only).
    messages_per_worker: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.low < self.target < self.high <= 1.5:
            raise ValueError("scaling thresholds must satisfy 0 < low < target < high <= 1.5")
        if self.messages_per_worker is not None and self.messages_per_worker <= 0:
            raise ValueError("messages_per_worker must be positive")


@dataclass(frozen=True)
class LoadSample:
    """What one route's slots did during one measuring interval."""

    seconds: float
    messages: float = 0.0
    handler_seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def load(self, concurrency: int, messages_per_worker: float | None = None) -> float:
        """The work done, in slots' worth (1.0 = one fully busy slot)."""
        if self.seconds <= 0:
            return 0.0
        parts = [
            self.cpu_seconds / self.seconds,
            self.handler_seconds / self.seconds / max(1, concurrency),
        ]
        if messages_per_worker:
            parts.append(self.rate / messages_per_worker)
        return max(parts)


class RouteScaler:
    """The scaling state of one route: remembers since when its load has been low."""

    def __init__(self, policy: ScalingPolicy) -> None:
        self.policy = policy
        self.low_since: float | None = None
        self.last_change = float("-inf")

    def decide(self, now: float, current: int, load: float, minimum: int, maximum: int) -> int:
        """The slot count wanted for a route with ``current`` slots carrying ``load``."""
        p = self.policy
        current = max(1, current)
        if load > current * p.high:
            self.low_since = None
            if now - self.last_change < p.cooldown:
                return current
            wanted = max(current + 1, math.ceil(load / p.target))
            wanted = min(maximum, wanted)
            if wanted != current:
                self.last_change = now
            return wanted
        if current > minimum and load < (current - 1) * p.low:
            if self.low_since is None:
                self.low_since = now
            elif now - self.low_since >= p.keepalive and now - self.last_change >= p.cooldown:
                # One at a time, then wait a whole keep-alive again: down slowly.
                self.low_since = now
                self.last_change = now
                return current - 1
            return current
        self.low_since = None
        return max(minimum, min(maximum, current))
