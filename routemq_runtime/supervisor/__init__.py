"""Supervision of worker slots: fork, restart, drain, scale, health."""

from routemq_runtime.supervisor.adaptive import AdaptiveWorkerManager
from routemq_runtime.supervisor.manager import (
    EXIT_BOOT_ERROR,
    EXIT_SLOT_FAILED,
    WorkerManager,
)
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
    "WorkerManager",
    "plan_routes",
]
