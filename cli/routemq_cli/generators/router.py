"""``make:router``: ``app/routers/<name>.py`` defining ``router``; the registry discovers it.

With ``--controller`` the router gets a route to that controller's handler; the route's topic
levels come from the handler's parameters (``device_id`` -> ``{device_id}``).
"""

from __future__ import annotations

import ast
from pathlib import Path

from routemq_cli.generators.base import FileSpec, Generator
from routemq_cli.generators.errors import GeneratorError
from routemq_cli.generators.names import Name, normalise
from routemq_cli.generators.route_tests import imports, render_tests, sample

PREFERRED_HANDLERS = ("process", "handle")
# The instance or class a method is bound to; never a topic level.
_BOUND = frozenset({"self", "cls"})


class RouterGenerator(Generator):
    what = "router"
    has_class = False

    def __init__(
        self,
        app_dir: Path,
        raw_name: str,
        *,
        controller: str | None = None,
        prefix: str | None = None,
        with_test: bool = True,
    ) -> None:
        super().__init__(app_dir, raw_name)
        self.with_test = with_test
        self.prefix = _check_prefix(self.name.topic if prefix is None else prefix)
        self.controller: Name | None = None
        self.handler = ""
        self.pattern = ""
        if controller is not None:
            self.controller = normalise(controller, suffix="Controller", what="controller name")
            self.handler, self.pattern = self._inspect_controller(self.controller)
            _check_route(self.prefix, self.pattern)

    def files(self) -> list[FileSpec]:
        if self.controller is None:
            return [FileSpec(f"app/routers/{self.name.module}.py", "router.stub")]
        specs = [FileSpec(f"app/routers/{self.name.module}.py", "router.controller.stub")]
        if self.with_test:
            specs.append(FileSpec(f"tests/test_{self.name.module}_router.py", "route.test.stub"))
        return specs

    def values(self) -> dict[str, str]:
        values = super().values()
        values["prefix"] = self.prefix
        if self.controller is not None:
            values.update(
                controller_class=self.controller.class_name,
                controller_module=self.controller.module,
                handler=self.handler,
                pattern=self.pattern,
                subject=f"app/routers/{self.name.module}.py",
                imports=imports(self.app_dir),
                tests=render_tests([sample(self.route_pattern, self.handler_name)]),
            )
        return values

    @property
    def route_pattern(self) -> str:
        return f"{self.prefix}/{self.pattern}"

    @property
    def handler_name(self) -> str:
        assert self.controller is not None
        module = f"app.controllers.{self.controller.module}"
        return f"{module}.{self.controller.class_name}.{self.handler}"

    def _inspect_controller(self, controller: Name) -> tuple[str, str]:
        """The handler method to route to and the topic pattern its parameters ask for."""
        relative = f"app/controllers/{controller.module}.py"
        create = f"create it first: routemq make:controller {controller.base_class}"
        try:
            tree = ast.parse((self.app_dir / relative).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise GeneratorError(
                f"controller file {relative} does not exist", hint=create
            ) from None
        except SyntaxError as error:
            raise GeneratorError(f"{relative} does not parse: {error}") from None
        classes = [
            node
            for node in tree.body
            if isinstance(node, ast.ClassDef) and node.name == controller.class_name
        ]
        if not classes:
            raise GeneratorError(
                f"{relative} defines no class {controller.class_name}", hint=create
            )
        methods = {
            node.name: node
            for node in classes[0].body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and not node.name.startswith("_")
        }
        if not methods:
            raise GeneratorError(
                f"{controller.class_name} in {relative} has no public handler method",
                hint="add one, e.g. async def process(self, device_id, payload, client)",
            )
        preferred = [name for name in PREFERRED_HANDLERS if name in methods]
        handler = methods[preferred[0] if preferred else next(iter(methods))]
        return handler.name, topic_levels(handler)


def topic_levels(handler: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The pattern a handler's parameters ask for: every parameter the runtime does not inject
    is one level, typed by its annotation when the runtime has a convertor of that name."""
    # The runtime's own tables, so a name it learns to inject never becomes a topic level here.
    # (Imported here: make:* commands other than make:router never load the runtime.)
    from routemq_runtime.routing.convertors import CONVERTORS, DEFAULT_CONVERTOR
    from routemq_runtime.routing.injection import INJECTABLE

    levels = []
    for argument in (*handler.args.posonlyargs, *handler.args.args):
        if argument.arg in _BOUND or argument.arg in INJECTABLE:
            continue
        annotation = argument.annotation
        kind = annotation.id if isinstance(annotation, ast.Name) else DEFAULT_CONVERTOR
        typed = kind in CONVERTORS and kind != DEFAULT_CONVERTOR
        levels.append(f"{{{argument.arg}:{kind}}}" if typed else f"{{{argument.arg}}}")
    # A handler without topic parameters takes everything under the prefix.
    return "/".join(levels) or "#"


def _check_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    if not prefix:
        raise GeneratorError("the topic prefix is empty", hint="give one such as sensors")
    for bad in ('"', "\\", "\n", "\r", "\x00"):
        if bad in prefix:
            raise GeneratorError(
                f"topic prefix {prefix!r} contains {bad!r}",
                hint="use topic levels separated by '/', e.g. sensors/{site}",
            )
    _parse(prefix, f"topic prefix {prefix!r}")
    return prefix


def _check_route(prefix: str, pattern: str) -> None:
    _parse(f"{prefix}/{pattern}", "the generated route")


def _parse(pattern: str, what: str) -> None:
    # The runtime's own parser decides what a valid pattern is, so the CLI never disagrees.
    from routemq_runtime.routing import RouteDefinitionError, parse_pattern

    try:
        parse_pattern(pattern)
    except RouteDefinitionError as error:
        raise GeneratorError(f"{what} is not a valid route pattern: {error}") from None
