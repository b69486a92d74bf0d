"""Topic matching by a trie over topic levels.

The trie is walked depth first, trying at each level a literal child, then parameter children
(strictest convertor first), then `+`, then the multi-level `#`/`{x:path}` routes. The first
complete match is therefore the most specific route; routes of the same shape keep definition
order. Cost grows with the depth of the topic, not with the number of routes.
"""

from __future__ import annotations

from typing import Any

from routemq_runtime.routing.convertors import Convertor
from routemq_runtime.routing.pattern import LITERAL, MULTI, PARAM, PLUS
from routemq_runtime.routing.route import Match, Route


class _Node:
    __slots__ = ("literal", "multi", "params", "plus", "routes")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.params: list[tuple[Convertor, _Node]] = []  # kept sorted by convertor rank
        self.plus: _Node | None = None
        self.routes: list[Route] = []  # routes ending exactly here
        self.multi: list[Route] = []  # routes whose next level is `#` or `{x:path}`


def _param_child(node: _Node, convertor: Convertor) -> _Node:
    for existing, child in node.params:
        if existing is convertor:
            return child
    child = _Node()
    node.params.append((convertor, child))
    node.params.sort(key=lambda item: item[0].rank)
    return child


def _build_params(route: Route, captured: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    values = iter(captured)
    for level in route.parsed.levels:
        if level.kind == PARAM:
            params[level.name] = level.convertor.convert(next(values))
        elif level.kind == MULTI:
            value = next(values)
            if level.name:
                params[level.name] = value
    return params


class RouteTrie:
    def __init__(self) -> None:
        self._root = _Node()

    def add(self, route: Route) -> None:
        node = self._root
        for level in route.parsed.levels:
            if level.kind == LITERAL:
                node = node.literal.setdefault(level.text, _Node())
            elif level.kind == PARAM:
                node = _param_child(node, level.convertor)
            elif level.kind == PLUS:
                if node.plus is None:
                    node.plus = _Node()
                node = node.plus
            else:
                node.multi.append(route)
                return
        node.routes.append(route)

    def match(self, topic: str) -> Match | None:
        levels = topic.split("/")
        # MQTT: wildcards at the first level never match `$` topics such as `$SYS/...`.
        found = _walk(self._root, levels, 0, [], topic.startswith("$"))
        if found is None:
            return None
        route, captured = found
        return Match(route, _build_params(route, captured))


def _walk(
    node: _Node, levels: list[str], index: int, captured: list[str], dollar: bool
) -> tuple[Route, list[str]] | None:
    if index == len(levels):
        if node.routes:
            return node.routes[0], captured
        for route in node.multi:
            if route.parsed.levels[-1].name is None:  # `a/#` also matches `a`
                return route, [*captured, ""]
        return None
    level = levels[index]
    child = node.literal.get(level)
    if child is not None:
        found = _walk(child, levels, index + 1, captured, dollar)
        if found is not None:
            return found
    if dollar and index == 0:
        return None
    for convertor, child in node.params:
        if convertor.accepts(level):
            found = _walk(child, levels, index + 1, [*captured, level], dollar)
            if found is not None:
                return found
    if node.plus is not None:
        found = _walk(node.plus, levels, index + 1, captured, dollar)
        if found is not None:
            return found
    if node.multi:
        return node.multi[0], [*captured, "/".join(levels[index:])]
    return None
