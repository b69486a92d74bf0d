"""Middleware: ``async def handle(self, context, next)`` wrapped around a handler.

Group middleware runs outside route middleware; a middleware that does not call ``next`` stops
the chain and its return value becomes the result.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from routemq_runtime.routing.context import Context

Next = Callable[[Context], Awaitable[Any]]


class Middleware:
    """Base class. Override ``handle``; call ``await next(context)`` to continue the chain."""

    async def handle(self, context: Context, next: Next) -> Any:
        return await next(context)


def _as_callable(entry: Any) -> Callable[[Context, Next], Awaitable[Any]]:
    if inspect.isclass(entry):
        entry = entry()
    handle = getattr(entry, "handle", None)
    if handle is not None and callable(handle):
        return handle
    if callable(entry):
        return entry
    raise TypeError(f"middleware {entry!r} has no handle(context, next) method")


def validate_middleware(entries: Sequence[Any], where: str) -> tuple[Any, ...]:
    for entry in entries:
        handle = getattr(entry, "handle", None)
        usable = callable(handle) if inspect.isclass(entry) else callable(handle) or callable(entry)
        if not usable:
            raise TypeError(f"{where}: middleware {entry!r} has no handle(context, next) method")
    return tuple(entries)


def compose(entries: Sequence[Any], endpoint: Next) -> Next:
    """Build the chain once; instances are created here, so once per process and route."""
    chain = endpoint
    for entry in reversed(entries):
        chain = _link(_as_callable(entry), chain)
    return chain


def _link(handle: Callable[[Context, Next], Awaitable[Any]], inner: Next) -> Next:
    async def step(context: Context) -> Any:
        return await handle(context, inner)

    return step
