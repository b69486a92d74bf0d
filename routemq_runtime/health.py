"""The supervisor's HTTP port; it lives in :mod:`routemq_runtime.supervisor.health`."""

from routemq_runtime.supervisor.health import (
    LOOP_STALL_SECONDS,
    HealthServer,
    HealthSource,
    liveness,
    readiness,
    render_metrics,
)

__all__ = [
    "LOOP_STALL_SECONDS",
    "HealthServer",
    "HealthSource",
    "liveness",
    "readiness",
    "render_metrics",
]
