"""The Router: ``router.on(pattern, handler, ...)``, groups, merging and matching."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from routemq_runtime.routing.injection import Invoker
from routemq_runtime.routing.middleware import validate_middleware
from routemq_runtime.routing.pattern import (
    RouteDefinitionError,
    join_patterns,
    parse_pattern,
    unique_key,
)
from routemq_runtime.routing.route import Match, Route
from routemq_runtime.routing.trie import RouteTrie

_ROUTING_DIR = os.path.dirname(os.path.abspath(__file__))

#: Topics whose match a router remembers. Devices send on the same topics again and again, so a
#: slot's working set is its devices' topics; past this many the cache starts over (see match).
MATCH_CACHE_SIZE = 4096
#: Longer topics are matched every time: MQTT allows 64 KiB topics, and the cache is bounded by
#: count, so this is what bounds its memory (a few MiB at most).
MATCH_CACHE_TOPIC_LENGTH = 256
_UNKNOWN: Any = object()


def definition_site() -> tuple[str, int] | None:
    """Where the app's code called into the router: the first frame outside this package."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if os.path.dirname(os.path.abspath(filename)) != _ROUTING_DIR:
            return filename, frame.f_lineno
        frame = frame.f_back
    return None


class Router:
    """Routes MQTT topics to handlers.

    >>> router = Router()
    >>> router.on("sensors/{device_id}/data", handle, shared=True, worker_count=3, qos=1)
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._trie = RouteTrie()
        self._shapes: dict[str, Route] = {}
        self._keys: set[str] = set()
        self._groups: list[tuple[str, tuple[Any, ...]]] = []
        # topic -> its Match, or None for a topic no route takes (that answer is remembered too).
        self._matches: dict[str, Match | None] = {}
        self._seen: set[str] = set()  # topics matched once since it was last emptied

    def on(
        self,
        pattern: str,
        handler: Callable[..., Any],
        *,
        qos: int = 0,
        shared: bool = False,
        worker_count: int = 1,
        middleware: Sequence[Any] = (),
        name: str | None = None,
    ) -> Route:
        """Add a route. Errors in the pattern or options are raised here, naming the pattern."""
        parsed = parse_pattern(pattern)
        if self._groups:
            prefix = "/".join(p.strip("/") for p, _ in self._groups if p.strip("/"))
            parsed = parse_pattern(join_patterns(prefix, pattern))
        group_middleware = tuple(m for _, mws in self._groups for m in mws)
        route = Route(
            parsed,
            handler,
            Invoker,
            qos=qos,
            shared=shared,
            worker_count=worker_count,
            middleware=validate_middleware(middleware, f"route {parsed.text!r}"),
            group_middleware=group_middleware,
            name=name,
        )
        route.defined_at = definition_site()
        self._add(route)
        return route

    def route(
        self, pattern: str, **options: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`on`."""

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            self.on(pattern, handler, **options)
            return handler

        return register

    @contextmanager
    def group(self, prefix: str = "", middleware: Sequence[Any] = ()) -> Iterator[Router]:
        """Routes defined inside share a topic prefix and run inside the group's middleware."""
        if prefix:
            parse_pattern(prefix.strip("/"))  # a bad prefix is reported on its own
        self._groups.append((prefix, validate_middleware(middleware, f"group {prefix!r}")))
        try:
            yield self
        finally:
            self._groups.pop()

    def include(self, other: Router) -> Router:
        """Merge another router's routes into this one (used by the registry)."""
        for route in other.routes:
            self._add(route)
        return self

    def only(self, routes: Iterable[Route]) -> Router:
        """A router holding just these routes: what one worker slot serves."""
        subset = Router()
        for route in routes:
            subset._add(route)
        return subset

    def match(self, topic: str) -> Match | None:
        """The route (and read-only params) a topic goes to; the same Match for the same topic."""
        found = self._matches.get(topic, _UNKNOWN)
        if found is not _UNKNOWN:
            return found
        found = self._trie.match(topic)
        if len(topic) > MATCH_CACHE_TOPIC_LENGTH:
            return found
        # A topic is remembered the second time it is matched. Where topics do not come back
        # within the cache's reach (a fleet larger than it), keeping each Match alive would cost
        # more than the walk it saves: the garbage collector traverses every survivor, while the
        # topics seen once are plain strings it never looks at. Inline: this is every miss.
        seen = self._seen
        if topic not in seen:
            if len(seen) >= MATCH_CACHE_SIZE:
                seen.clear()
            seen.add(topic)
            return found
        matches = self._matches
        if len(matches) >= MATCH_CACHE_SIZE:
            # Emptied, the simplest bound that stays cheap: LRU would add bookkeeping to every
            # hit, and dropping the oldest key means a scan past the dict's deleted entries each
            # time. A working set that fits stays cached.
            matches.clear()
        matches[topic] = found
        return found

    def find(self, pattern: str) -> Route:
        for route in self.routes:
            if route.pattern == pattern:
                return route
        raise KeyError(f"no route with pattern {pattern!r}")

    def _add(self, route: Route) -> None:
        shape = route.parsed.shape
        existing = self._shapes.get(shape)
        if existing is not None and existing is not route:
            raise RouteDefinitionError(
                f"duplicate route {route.pattern!r} ({route.handler_name}): "
                f"{existing.pattern!r} ({existing.handler_name}) already matches the same topics"
            )
        if existing is route:
            return
        key = unique_key(route.key, self._keys)
        route.key = key
        self._shapes[shape] = route
        self._keys.add(key)
        self.routes.append(route)
        self._trie.add(route)
        # A new route may take topics that matched another route, or none, before.
        self._matches.clear()
        self._seen.clear()

    def __len__(self) -> int:
        return len(self.routes)

    def __iter__(self) -> Iterator[Route]:
        return iter(self.routes)

    def __repr__(self) -> str:
        return f"Router({len(self.routes)} routes)"
