"""AdaptiveWorkerManager: a WorkerManager that always auto-scales its shared routes."""

from __future__ import annotations

import math
from typing import Any

from routemq_runtime.supervisor.manager import WorkerManager
from routemq_runtime.supervisor.scaling import ScalingPolicy


class AdaptiveWorkerManager(WorkerManager):
    """Scales each shared route between ``WORKER_MIN_COUNT`` and ``WORKER_MAX_COUNT``.

    The same as ``WorkerManager`` with ``WORKER_AUTO_SCALE=true``. ``messages_per_worker``
    adds a message-rate rule (one slot per that many messages per second) to the CPU and
    in-flight measurements; the other keyword arguments tune :class:`ScalingPolicy`.
    """

    def __init__(
        self,
        *args: Any,
        messages_per_worker: float | None = None,
        scaling_policy: ScalingPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        policy = scaling_policy or ScalingPolicy(messages_per_worker=messages_per_worker)
        kwargs["auto_scale"] = True
        super().__init__(*args, scaling_policy=policy, **kwargs)

    def calculate_optimal_workers(self, message_rate: float) -> int:
        """Slots for a message rate under the rate rule alone, within the configured bounds."""
        per_worker = self.scaling_policy.messages_per_worker
        wanted = math.ceil(message_rate / per_worker) if per_worker else 1
        return max(self.config.worker_min_count, min(self.config.worker_max_count, wanted))
