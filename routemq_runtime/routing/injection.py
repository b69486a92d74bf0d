"""Call a handler with the arguments it asks for by name.

The signature is read once, when the route is defined, so an argument nobody can supply is an
error at ``router.on(...)`` rather than on the first message. Handlers written for the original
RouteMQ, ``async def handle(device_id, payload, client)``, work unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from routemq_runtime.routing.hints import parameter_annotation
from routemq_runtime.routing.pattern import RouteDefinitionError, TopicPattern
from routemq_runtime.routing.payloads import PayloadPlan, PayloadTypeError, plan_payload
from routemq_runtime.routing.route import handler_name

if TYPE_CHECKING:
    from routemq_runtime.routing.context import Context

# Names a handler may ask for besides its route parameters, and how each is read from the context
# (attrgetter: read in C, one Python call less per argument and message than a lambda).
INJECTABLE: dict[str, Callable[[Context], Any]] = {
    "payload": attrgetter("payload"),
    "topic": attrgetter("message.topic"),
    "context": lambda ctx: ctx,
    # The original RouteMQ's name for the context (not ``context.message``, the raw delivery).
    "message": lambda ctx: ctx,
    "client": attrgetter("client"),
    "params": attrgetter("params"),
    "raw": attrgetter("message.payload"),
    "qos": attrgetter("message.qos"),
    "retain": attrgetter("message.retain"),
    "properties": attrgetter("message.properties"),
    "worker_id": attrgetter("worker_id"),
    "attempt": attrgetter("attempt"),
}


def _owner_class(function: Callable[..., Any]) -> type | None:
    """The class a function was defined in, when it is referenced unbound as `Class.method`."""
    qualname = getattr(function, "__qualname__", "")
    if "." not in qualname or "<locals>" in qualname:
        return None
    module = importlib.import_module(function.__module__)
    owner: Any = module
    for part in qualname.split(".")[:-1]:
        owner = getattr(owner, part, None)
        if owner is None:
            return None
    return owner if inspect.isclass(owner) else None


class Invoker:
    """Builds the keyword arguments for one handler and awaits it (sync handlers off the loop)."""

    __slots__ = (
        "_bound",
        "_getters",
        "_owner",
        "_params",
        "_takes_kwargs",
        "handler",
        "is_async",
        "payload_plan",
    )

    def __init__(self, handler: Callable[..., Any], pattern: TopicPattern) -> None:
        self.handler = handler
        self._owner: type | None = None
        self._bound: Callable[..., Any] | None = None
        signature = inspect.signature(handler)
        parameters = list(signature.parameters.values())
        if (
            inspect.isfunction(handler)
            and parameters
            and parameters[0].name == "self"
            and (owner := _owner_class(handler)) is not None
        ):
            # `SensorController.process` with `def process(self, ...)`: one controller instance per
            # process, created on first use so it is created after the worker has forked.
            self._owner = owner
            parameters = parameters[1:]
        self._params: list[str] = []  # the route parameters it takes
        self._getters: list[tuple[str, Callable[[Context], Any]]] = []
        self._takes_kwargs = False
        #: How ``payload`` is converted (None: untyped); the AsyncAPI document reads it too.
        self.payload_plan: PayloadPlan | None = None
        for parameter in parameters:
            self._plan_parameter(parameter, pattern)
        target = inspect.unwrap(handler)
        call = getattr(target, "__call__", None)  # noqa: B004 - callable objects with async __call__
        self.is_async = inspect.iscoroutinefunction(target) or (
            not inspect.isfunction(target) and inspect.iscoroutinefunction(call)
        )

    def _plan_parameter(self, parameter: inspect.Parameter, pattern: TopicPattern) -> None:
        handler = self.handler
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            self._takes_kwargs = True
            return
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise RouteDefinitionError(
                f"route {pattern.text!r}: handler {handler_name(handler)} takes "
                f"{parameter.name!r} positional-only; arguments are passed by name"
            )
        route_params = pattern.param_names
        if parameter.name in route_params:
            self._params.append(parameter.name)
        elif parameter.name == "payload":
            self._getters.append(("payload", self._payload_getter(parameter, pattern)))
        elif parameter.name in INJECTABLE:
            self._getters.append((parameter.name, INJECTABLE[parameter.name]))
        elif parameter.default is inspect.Parameter.empty:
            known = ", ".join(sorted({*route_params, *INJECTABLE}))
            raise RouteDefinitionError(
                f"route {pattern.text!r}: handler {handler_name(handler)} asks for "
                f"{parameter.name!r}, which is neither a route parameter nor injectable "
                f"(available: {known})"
            )

    def _payload_getter(
        self, parameter: inspect.Parameter, pattern: TopicPattern
    ) -> Callable[[Context], Any]:
        """The untyped getter, or the declared type's plan, made now so a bad type fails here."""
        try:
            self.payload_plan = plan_payload(parameter_annotation(self.handler, parameter))
        except PayloadTypeError as error:
            raise RouteDefinitionError(
                f"route {pattern.text!r}: handler {handler_name(self.handler)}, parameter "
                f"'payload': {error}"
            ) from None
        if self.payload_plan is None:
            return INJECTABLE["payload"]
        return self.payload_plan.load

    @property
    def name(self) -> str:
        return handler_name(self.handler)

    def _callable(self) -> Callable[..., Any]:
        if self._bound is None:
            self._bound = (
                self.handler
                if self._owner is None
                else getattr(self._owner(), self.handler.__name__)
            )
        return self._bound

    def arguments(self, ctx: Context) -> dict[str, Any]:
        params = ctx.params
        if self._takes_kwargs:
            kwargs = dict(params)
        else:
            # A loop, not a comprehension: Python 3.11 runs a comprehension as a call of its own.
            kwargs = {}
            for name in self._params:
                kwargs[name] = params[name]
        for name, getter in self._getters:
            kwargs[name] = getter(ctx)
        return kwargs

    async def __call__(self, ctx: Context) -> Any:
        function = self._bound
        if function is None:
            function = self._callable()
        kwargs = self.arguments(ctx)
        if self.is_async:
            return await function(**kwargs)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, functools.partial(function, **kwargs))
        if inspect.isawaitable(result):
            return await result
        return result
