"""Dispatch: match a message, build its context, run middleware and handler.

The worker, the in-memory TestClient and the benchmarks all go through ``Dispatcher.dispatch``,
so what a test sees is what production does.
"""

from __future__ import annotations

from typing import Any

from routemq_runtime.routing.context import Context, InboundMessage, Publisher
from routemq_runtime.routing.middleware import compose
from routemq_runtime.routing.route import Match, Route
from routemq_runtime.routing.router import Router


class DispatchResult:
    """What happened to one message: which route took it, and its result or exception."""

    __slots__ = ("context", "error", "message", "params", "reply", "result", "route")

    def __init__(
        self,
        message: InboundMessage,
        route: Route | None = None,
        params: dict[str, Any] | None = None,
        result: Any = None,
        error: BaseException | None = None,
        context: Context | None = None,
    ) -> None:
        self.message = message
        self.route = route
        self.params = params or {}
        self.result = result
        self.error = error
        self.context = context
        #: The MQTT 5 reply sent for this request (set by the TestClient; None when none was).
        self.reply: Any = None

    @property
    def matched(self) -> bool:
        return self.route is not None

    @property
    def ok(self) -> bool:
        return self.route is not None and self.error is None

    def __repr__(self) -> str:
        if self.route is None:
            return f"DispatchResult({self.message.topic!r}: no route)"
        outcome = f"error={self.error!r}" if self.error else f"result={self.result!r}"
        return f"DispatchResult({self.message.topic!r} -> {self.route.pattern!r}, {outcome})"


class Dispatcher:
    """One per process: it caches each route's middleware chain after first use."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._chains: dict[int, Any] = {}

    def _chain(self, route: Route) -> Any:
        chain = self._chains.get(id(route))
        if chain is None:
            middleware = route.middleware
            chain = compose(middleware, route.invoker) if middleware else route.invoker
            self._chains[id(route)] = chain
        return chain

    def match(self, topic: str) -> Match | None:
        """The route (and params) a topic goes to; hand it to :meth:`dispatch` to match once.
        Remembered per topic by the router, so it is cheap to call again."""
        return self.router.match(topic)

    async def dispatch(
        self,
        message: InboundMessage,
        *,
        client: Publisher | None = None,
        worker_id: str | None = None,
        attempt: int = 1,
        match: Match | None = None,
    ) -> DispatchResult:
        """Never raises for a handler's exception: it is returned in ``result.error``.

        ``match``: the message's match when the caller already has it."""
        if match is None:
            match = self.router.match(message.topic)
        if match is None:
            return DispatchResult(message)
        route = match.route
        # The match is shared by every message on its topic: each message gets its own params.
        params = match.params.copy()
        context = Context(message, route, params, client, worker_id, attempt)
        try:
            result = await self._chain(route)(context)
        except Exception as error:  # the caller decides on retry or dead-lettering
            return DispatchResult(message, route, params, None, error, context)
        return DispatchResult(message, route, params, result, None, context)
