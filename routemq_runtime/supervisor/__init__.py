"""Supervision of worker slots: fork, restart, drain, scale, health.

Slots. Each shared route gets one slot per unit of its count, each subscribing to that route
only (``$share/{group}/{filter}``). ``num_workers`` (``--num-workers``), else ``WORKER_COUNT``,
is the number of shared-route worker processes in total, shared out over the shared routes in
proportion to their ``worker_count`` (at least one each); without either, each shared route
gets its own ``worker_count``. Non-shared routes share one extra slot with ordinary
subscriptions. A slot's id, index and MQTT client id never
change: a restarted slot reconnects to its own session and receives what the broker kept.

Signals (to the supervisor):

- ``SIGTERM`` / ``SIGINT``: drain. Every slot stops taking messages, finishes and acks what
  it holds and disconnects; slots still running after ``ROUTEMQ_DRAIN_TIMEOUT`` are killed.
  A second ``SIGINT`` kills at once.
- ``SIGTTIN`` / ``SIGTTOU``: one slot more / less for every shared route (never below one;
  the highest index is drained first, so indexes and client ids stay dense).

Restarts: a slot that dies is restarted in the same slot after an exponential backoff with
jitter; one that dies more than ``RestartPolicy.budget`` times within ``window`` seconds makes
the supervisor stop everything and exit 1; a slot exiting with ``EXIT_BOOT_ERROR`` (3) stops
everything at once (restarting cannot fix bad credentials). A slot whose heartbeat file is
older than ``heartbeat_timeout`` is killed and restarted.

Auto-scaling (``WORKER_AUTO_SCALE=true`` or :class:`AdaptiveWorkerManager`): every shared
route moves between ``WORKER_MIN_COUNT`` and ``WORKER_MAX_COUNT`` following its measured load
(see :mod:`routemq_runtime.supervisor.scaling`). Brokers assign a shared subscription's
messages when they are published, so new slots take a share of new messages; a backlog already
queued for a slot stays with it.

Health (``ROUTEMQ_HEALTH_PORT``): ``/livez``, ``/readyz``, ``/metrics``; see
:mod:`routemq_runtime.health`.
"""

from routemq_runtime.lifecycle import EXIT_BOOT_ERROR
from routemq_runtime.supervisor.adaptive import AdaptiveWorkerManager
from routemq_runtime.supervisor.handles import WorkerHandle
from routemq_runtime.supervisor.manager import EXIT_SLOT_FAILED, WorkerManager
from routemq_runtime.supervisor.monitor import WorkerHealthMonitor
from routemq_runtime.supervisor.plan import PlanError, RoutePlan, plan_routes
from routemq_runtime.supervisor.restart import RestartPolicy
from routemq_runtime.supervisor.scaling import LoadSample, RouteScaler, ScalingPolicy

__all__ = [
    "EXIT_BOOT_ERROR",
    "EXIT_SLOT_FAILED",
    "AdaptiveWorkerManager",
    "LoadSample",
    "PlanError",
    "RestartPolicy",
    "RoutePlan",
    "RouteScaler",
    "ScalingPolicy",
    "WorkerHandle",
    "WorkerHealthMonitor",
    "WorkerManager",
    "plan_routes",
]
