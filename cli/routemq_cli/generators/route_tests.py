"""Tests for routes: a sample topic for each route's pattern, and a test function that sends it
through the app's real router with the in-memory ``TestClient``.

Shared by ``make:test`` (routes found in the running app) and ``make:router`` (the route it
writes). The runtime's own pattern parser reads the patterns, so a sample always matches.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

#: A value of the right kind for each convertor; a parameter's name makes string values telling.
SAMPLES: dict[str, Any] = {"int": 7, "float": 2.5}


class RouteSample(NamedTuple):
    pattern: str
    handler: str
    topic: str
    params: dict[str, Any]


def sample(pattern: str, handler: str) -> RouteSample:
    """A topic that ``pattern`` matches, and the parameters the route then receives."""
    # make:* commands other than these load no runtime code.
    from routemq_runtime.routing.pattern import LITERAL, MULTI, PARAM, parse_pattern

    levels: list[str] = []
    params: dict[str, Any] = {}
    for level in parse_pattern(pattern).levels:
        if level.kind == LITERAL:
            levels.append(level.text)
        elif level.kind == PARAM and level.name is not None and level.convertor is not None:
            value = SAMPLES.get(level.convertor.name, f"{level.name.replace('_', '-')}-1")
            levels.append(str(value))
            params[level.name] = value
        elif level.kind == MULTI and level.name is not None:
            levels.append("a/b")
            params[level.name] = "a/b"
        else:  # an anonymous `+` or `#`
            levels.append("any" if level.kind != MULTI else "any/thing")
    return RouteSample(pattern, handler, "/".join(levels), params)


def test_name(pattern: str, taken: set[str]) -> str:
    """``test_sensors_device_id_data`` for ``sensors/{device_id}/data``, unique in the file."""
    words = re.sub(r"[^0-9a-zA-Z]+", "_", re.sub(r":\w+\}", "}", pattern)).strip("_").lower()
    name = f"test_{words or 'route'}"
    unique, n = name, 2
    while unique in taken:
        unique, n = f"{name}_{n}", n + 1
    taken.add(unique)
    return unique


def literal(value: Any) -> str:
    """``value`` as Python source the way ruff formats it (double-quoted strings)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def render_tests(samples: list[RouteSample]) -> str:
    """One test function per route, formatted as ``ruff format`` leaves it."""
    taken: set[str] = set()
    blocks = []
    for route in samples:
        short_handler = ".".join(route.handler.split(".")[-2:])
        blocks.append(
            f"def {test_name(route.pattern, taken)}() -> None:\n"
            f"    with TestClient(load_router()) as client:\n"
            f"        outcome = client.publish({literal(route.topic)}, {{}})\n"
            f"\n"
            f"    # The message reaches {short_handler}, its topic parameters converted.\n"
            f"    assert outcome.route is not None\n"
            f"    assert outcome.route.pattern == {literal(route.pattern)}\n"
            f"    assert outcome.params == {literal(route.params)}\n"
            f"    # Next: publish a payload the handler expects, then assert on outcome.ok,\n"
            f"    # outcome.result and client.published.\n"
        )
    return "\n\n".join(blocks).rstrip("\n")


def imports(app_dir: Path) -> str:
    """The test module's imports: the app's own ``load_router`` when it has a bootstrap, else a
    small one over the router registry."""
    if (app_dir / "bootstrap" / "app.py").is_file():
        return (
            "from routemq_runtime.testing import TestClient\n\n"
            "from bootstrap.app import load_router"
        )
    return (
        "from routemq_runtime import Router, RouterRegistry\n"
        "from routemq_runtime.testing import TestClient\n\n\n"
        "def load_router() -> Router:\n"
        '    return RouterRegistry("app.routers").discover_and_load_routers()'
    )
