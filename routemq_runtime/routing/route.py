"""A route: a compiled pattern, its handler and its delivery options."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NoReturn

from routemq_runtime.routing.pattern import RouteDefinitionError, TopicPattern, pattern_key

#: What runs a route's handler for one context (an ``Invoker``, chosen by the router); typed
#: loosely here so that a route need not know the context it will be given.
Endpoint = Callable[[Any], Awaitable[Any]]
EndpointFactory = Callable[[Callable[..., Any], TopicPattern], Endpoint]


def handler_name(handler: Callable[..., Any]) -> str:
    """``module.Class.method`` of a handler, for listings, logs and errors."""
    target = inspect.unwrap(handler)
    if isinstance(target, functools.partial):
        return handler_name(target.func)
    module = getattr(target, "__module__", None) or "?"
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{qualname}"


class Route:
    __slots__ = (
        "_pipeline",
        "defined_at",
        "group_middleware",
        "handler",
        "invoker",
        "key",
        "name",
        "parsed",
        "qos",
        "route_middleware",
        "shared",
        "worker_count",
    )

    def __init__(
        self,
        parsed: TopicPattern,
        handler: Callable[..., Any],
        make_invoker: EndpointFactory,
        *,
        qos: int = 0,
        shared: bool = False,
        worker_count: int = 1,
        middleware: Sequence[Any] = (),
        group_middleware: Sequence[Any] = (),
        name: str | None = None,
    ) -> None:
        def fail(reason: str) -> RouteDefinitionError:
            return RouteDefinitionError(f"route {parsed.text!r}: {reason}")

        if qos not in (0, 1, 2) or isinstance(qos, bool):
            raise fail(f"qos must be 0, 1 or 2, got {qos!r}")
        if not isinstance(worker_count, int) or isinstance(worker_count, bool) or worker_count < 1:
            raise fail(f"worker_count must be a positive integer, got {worker_count!r}")
        if not shared and worker_count != 1:
            raise fail(
                "worker_count > 1 needs shared=True (only a shared subscription splits work)"
            )
        if not callable(handler):
            raise fail(f"handler {handler!r} is not callable")
        self.parsed = parsed
        self.handler = handler
        self.qos = qos
        self.shared = bool(shared)
        self.worker_count = worker_count
        self.route_middleware = tuple(middleware)
        self.group_middleware = tuple(group_middleware)
        self.name = name
        #: ``(file, line)`` of the ``router.on`` call (or decorator) that defined the route.
        self.defined_at: tuple[str, int] | None = None
        self.key = pattern_key(parsed)
        # Built last: it reads the handler's signature, which needs a callable.
        self.invoker = make_invoker(handler, parsed)
        self._pipeline = None

    @property
    def pattern(self) -> str:
        return self.parsed.text

    @property
    def filter(self) -> str:
        """The MQTT subscription filter derived from the pattern."""
        return self.parsed.filter

    @property
    def middleware(self) -> tuple[Any, ...]:
        """Group middleware (outermost group first), then the route's own."""
        return self.group_middleware + self.route_middleware

    @property
    def handler_name(self) -> str:
        return handler_name(self.handler)

    def subscription(self, group: str | None) -> str:
        """The filter to subscribe to: `$share/{group}/{filter}` for shared routes."""
        if self.shared and group:
            return f"$share/{group}/{self.filter}"
        return self.filter

    def __repr__(self) -> str:
        extra = f", shared, workers={self.worker_count}" if self.shared else ""
        return f"Route({self.pattern!r} -> {self.handler_name}, qos={self.qos}{extra})"


_assign = object.__setattr__


class Match:
    """A topic's route and parameters.

    The router remembers one per topic and hands the same one to every message on that topic,
    so it cannot be changed: ``params`` is a read-only view, and dispatch gives each message a
    dict of its own (``params.copy()``) that its handler may change."""

    __slots__ = ("params", "route")

    route: Route
    params: Mapping[str, Any]

    def __init__(self, route: Route, params: dict[str, Any]) -> None:
        # Assigned past __setattr__, which refuses every later change.
        _assign(self, "route", route)
        _assign(self, "params", MappingProxyType(params))

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"a Match is shared between messages and cannot be changed ({name})")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"a Match is shared between messages and cannot be changed ({name})")

    def __repr__(self) -> str:
        return f"Match({self.route.pattern!r}, {dict(self.params)!r})"
