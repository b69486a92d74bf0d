"""When to restart a dead slot, and when to give up on it."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    """Exponential backoff with jitter, and a budget of deaths per window.

    A slot that dies more than ``budget`` times within ``window`` seconds is broken (bad code,
    bad credentials, a poison message that kills the process): the supervisor then stops and
    exits non-zero, so the orchestrator's own backoff (Kubernetes' CrashLoopBackOff) takes
    over instead of a tight restart loop nobody sees.
    """

    base_delay: float = 0.25
    max_delay: float = 10.0
    budget: int = 5
    window: float = 60.0
    #: A slot that lived this long before dying starts its backoff from the beginning again.
    stable_after: float = 10.0

    def delay(self, consecutive: int) -> float:
        """Seconds to wait before the ``consecutive``-th restart in a row (1-based)."""
        step = min(self.max_delay, self.base_delay * 2 ** max(0, consecutive - 1))
        # Jitter spreads slots that died together (a broker restart) so they do not reconnect
        # in lock step.
        return step * random.uniform(0.5, 1.0)


class DeathRecord:
    """The recent deaths of one slot."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self.times: deque[float] = deque()
        self.consecutive = 0
        self.total = 0

    def record(self, now: float, lived: float) -> float:
        """Note a death at ``now`` after ``lived`` seconds; return the delay before restarting."""
        self.total += 1
        self.times.append(now)
        while self.times and now - self.times[0] > self.policy.window:
            self.times.popleft()
        self.consecutive = 1 if lived >= self.policy.stable_after else self.consecutive + 1
        return self.policy.delay(self.consecutive)

    @property
    def exhausted(self) -> bool:
        return len(self.times) > self.policy.budget
