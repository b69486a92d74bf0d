"""``make:test NAME``: a ``TestClient`` test for the app's routes that NAME names.

NAME is looked up among the routes the app defines, as ``route:list`` shows them: a route's
``name=``, a controller (``Sensor``, ``SensorController``), or a route pattern or filter.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from routemq_cli.generators.base import FileSpec, Generator
from routemq_cli.generators.errors import GeneratorError
from routemq_cli.generators.names import InvalidName, normalise
from routemq_cli.generators.route_tests import imports, render_tests, sample


class RouteTestGenerator(Generator):
    what = "test"
    has_class = False

    def __init__(self, app_dir: Path, raw_name: str) -> None:
        # No Generator.__init__: NAME may be a topic pattern, which is no Python name.
        self.app_dir = app_dir
        self.raw_name = raw_name
        routes, label = find_routes(app_dir, raw_name)
        self.label = label
        self.samples = [sample(route.pattern, route.handler_name) for route in routes]

    def subject(self) -> str:
        return f"test_{self.label}"

    def files(self) -> list[FileSpec]:
        return [FileSpec(f"tests/test_{self.label}.py", "route.test.stub")]

    def values(self) -> dict[str, str]:
        return {
            "subject": self.raw_name,
            "imports": imports(self.app_dir),
            "tests": render_tests(self.samples),
        }


def find_routes(app_dir: Path, name: str) -> tuple[list[Any], str]:
    """The app's routes that ``name`` names, and a module-name label for their test file."""
    if not name.strip():
        raise GeneratorError("the name is empty", hint="e.g. routemq make:test Sensor")
    # make:test reads the app's real routes (without paho-mqtt), as route:list does.
    from routemq_runtime.app_loader import load_app_router

    try:
        routes = load_app_router(app_dir).routes
    except Exception as error:
        raise GeneratorError(
            f"could not load the app's routes: {type(error).__name__}: {error}"
        ) from None
    named = [r for r in routes if r.name == name]
    if named:
        return named, _label(name) + "_route"
    try:
        controller = normalise(name, suffix="Controller", what="controller name")
    except InvalidName:
        controller = None
    if controller is not None:
        owned = [r for r in routes if f".{controller.class_name}." in f"{r.handler_name}."]
        if owned:
            return owned, f"{controller.module}_routes"
    by_pattern = [r for r in routes if name in (r.pattern, r.filter)]
    if by_pattern:
        return by_pattern, _label(name) + "_route"
    raise GeneratorError(
        f"no route is named {name!r}, handled by a controller of that name, or has that pattern",
        hint="`routemq route:list` shows the routes, their patterns and handlers",
    )


def _label(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", re.sub(r":\w+\}", "}", text.lower())).strip("_") or "route"
