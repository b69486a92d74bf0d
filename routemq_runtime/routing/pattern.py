"""Route patterns: parse ``sensors/{device_id:int}/data`` into levels and derive the MQTT filter.

Every mistake is caught here, when the route is defined, with the pattern named in the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from routemq_runtime.routing.convertors import CONVERTORS, DEFAULT_CONVERTOR, PATH, Convertor

_PARAM = re.compile(r"\{(?P<name>[^{}:]*)(?::(?P<conv>[^{}]*))?\}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RouteDefinitionError(ValueError):
    """A route pattern or route option is invalid; the message names the pattern."""


# Level kinds, in the order of specificity used to pick the winning route.
LITERAL, PARAM, PLUS, MULTI = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Level:
    kind: int
    text: str = ""  # the literal for LITERAL levels
    name: str | None = None  # parameter name for PARAM and `{x:path}` MULTI levels
    convertor: Convertor | None = None

    @property
    def filter(self) -> str:
        return {LITERAL: self.text, PARAM: "+", PLUS: "+", MULTI: "#"}[self.kind]

    @property
    def shape(self) -> str:
        """The level with parameter names erased: two routes of one shape are duplicates."""
        if self.kind == PARAM:
            return "{:" + self.convertor.name + "}"
        if self.kind == MULTI:
            return "{:path}" if self.name else "#"
        return self.filter

    @property
    def needs_one_level(self) -> bool:
        # MQTT's `#` also matches the parent level itself; a `{rest:path}` capture needs a value.
        return self.kind == MULTI and self.name is not None


@dataclass(frozen=True, slots=True)
class TopicPattern:
    text: str
    levels: tuple[Level, ...]

    @property
    def filter(self) -> str:
        return "/".join(level.filter for level in self.levels)

    @property
    def shape(self) -> str:
        return "/".join(level.shape for level in self.levels)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.levels if level.name)


def parse_pattern(pattern: object) -> TopicPattern:
    if not isinstance(pattern, str):
        raise RouteDefinitionError(
            f"route pattern must be a str, got {type(pattern).__name__}: {pattern!r}"
        )

    def fail(reason: str) -> RouteDefinitionError:
        return RouteDefinitionError(f"invalid route pattern {pattern!r}: {reason}")

    if not pattern:
        raise fail("it is empty")
    if "\x00" in pattern:
        raise fail("it contains a NUL character")
    raw_levels = pattern.split("/")
    if raw_levels[0].startswith("$share") or raw_levels[0] == "$queue":
        raise fail("do not write the shared-subscription prefix; use shared=True")

    levels: list[Level] = []
    seen: set[str] = set()
    last = len(raw_levels) - 1
    for index, raw in enumerate(raw_levels):
        levels.append(_parse_level(raw, index, index == last, seen, fail))
    if raw_levels[0].startswith("$") and levels[0].kind != LITERAL:
        raise fail("a '$' topic must start with a literal level")
    return TopicPattern(pattern, tuple(levels))


def _parse_level(
    raw: str,
    index: int,
    is_last: bool,
    seen: set[str],
    fail: Callable[[str], RouteDefinitionError],
) -> Level:
    """One level of a pattern; ``seen`` collects parameter names (each may appear once)."""
    position = f"level {index + 1}"
    if raw == "":
        raise fail(f"{position} is empty (check for '//' or a leading/trailing '/')")
    if raw == "#":
        if not is_last:
            raise fail("'#' must be the last level")
        return Level(MULTI)
    if raw == "+":
        return Level(PLUS)
    if "#" in raw or "+" in raw:
        raise fail(f"{position} {raw!r} mixes a wildcard with other characters")
    if raw.startswith("$") and index == 0 and ("{" in raw or "}" in raw):
        raise fail("a '$' topic cannot have a parameter in its first level")
    param = _PARAM.fullmatch(raw)
    if param is None:
        if "{" in raw or "}" in raw:
            raise fail(f"{position} {raw!r}: a parameter must fill a whole level, like '{{id}}'")
        return Level(LITERAL, text=raw)
    name, conv = param.group("name"), param.group("conv")
    if not name:
        raise fail(f"{position} has a parameter with an empty name")
    if not _IDENTIFIER.fullmatch(name):
        raise fail(f"parameter name {name!r} is not a Python identifier")
    if name in seen:
        raise fail(f"parameter {name!r} appears twice")
    seen.add(name)
    if conv == PATH:
        if not is_last:
            raise fail(f"'{{{name}:path}}' must be the last level")
        return Level(MULTI, name=name)
    convertor = CONVERTORS.get(conv or DEFAULT_CONVERTOR)
    if convertor is None:
        known = ", ".join([*CONVERTORS, PATH])
        raise fail(f"unknown convertor {conv!r} for {name!r} (known: {known})")
    return Level(PARAM, name=name, convertor=convertor)


def join_patterns(prefix: str, pattern: str) -> str:
    """Join a group prefix and a route pattern with exactly one '/'."""
    prefix = prefix.strip("/")
    if not prefix:
        return pattern
    return f"{prefix}/{pattern}" if pattern else prefix


def unique_key(key: str, taken: Collection[str]) -> str:
    """``key``, or ``key-2``, ``key-3``... whichever is not taken yet.

    Two patterns may slug to the same key (``a/b-c``, ``a-b/c``); names made from keys (client
    ids, metric labels) must still differ, and stay the same across restarts, so suffixes follow
    the (stable) order in which keys are taken."""
    unique, n = key, 2
    while unique in taken:
        unique, n = f"{key}-{n}", n + 1
    return unique


def pattern_key(pattern: TopicPattern) -> str:
    """A stable slug for client ids, metric labels and file names.

    `sensors/{id}/data` becomes `sensors-id-data`.
    """
    parts = []
    for level in pattern.levels:
        if level.kind == LITERAL:
            parts.append(level.text)
        elif level.name:
            parts.append(level.name)
        else:
            parts.append("plus" if level.kind == PLUS else "all")
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", "-".join(parts)).strip("-")
    return slug or "root"
