"""RouteMQ runtime: routing, controllers, middleware, config and supervised MQTT workers.

Importing this package does not import paho-mqtt or prometheus-client; the worker and
supervisor modules load them when they run.
"""

from typing import Any

from routemq_runtime._version import __version__
from routemq_runtime.config import Config, ConfigError
from routemq_runtime.controller import Controller
from routemq_runtime.routing import (
    Context,
    Dispatcher,
    DispatchResult,
    InboundMessage,
    Middleware,
    PayloadValidationError,
    Route,
    RouteDefinitionError,
    Router,
    RouterLoadError,
    RouterRegistry,
)

Message = Context

__all__ = [
    "AdaptiveWorkerManager",
    "Config",
    "ConfigError",
    "Context",
    "Controller",
    "DispatchResult",
    "Dispatcher",
    "InboundMessage",
    "Message",
    "Middleware",
    "PayloadValidationError",
    "Route",
    "RouteDefinitionError",
    "Router",
    "RouterLoadError",
    "RouterRegistry",
    "WorkerHealthMonitor",
    "WorkerManager",
    "WorkerMetrics",
    "WorkerProcess",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # The supervisor pulls in paho-mqtt; load it only when asked for.
    if name in ("WorkerManager", "AdaptiveWorkerManager", "WorkerHealthMonitor"):
        from routemq_runtime import supervisor  # see above: paho-mqtt only on demand

        return getattr(supervisor, name)
    if name == "WorkerMetrics":
        from routemq_runtime import metrics  # prometheus-client only on demand

        return metrics.WorkerMetrics
    if name == "WorkerProcess":
        from routemq_runtime import worker  # paho-mqtt only on demand

        return worker.WorkerProcess
    raise AttributeError(f"module 'routemq_runtime' has no attribute {name!r}")
