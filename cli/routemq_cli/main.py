"""The ``routemq`` command.

Commands are registered from a table, so that running one command imports only its own module:
``routemq make:controller`` never pays for ``new`` (copier) or ``route:list`` (the runtime).
Command modules keep their heavy imports inside the command functions too.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

PROG = "routemq"
COMPLETE_VAR = "_ROUTEMQ_COMPLETE"
HELP = "Create, scaffold and run [bold]RouteMQ[/bold] apps: MQTT routing with worker processes."

GENERATORS = "Generators"
APP = "App"
PROJECT = "Project"

# name: (module in routemq_cli.commands, function, help panel, skips pydantic coercion)
COMMANDS: dict[str, tuple[str, str, str, bool]] = {
    "make:controller": ("make", "make_controller", GENERATORS, True),
    "make:router": ("make", "make_router", GENERATORS, True),
    "make:middleware": ("make", "make_middleware", GENERATORS, True),
    "stub:publish": ("stub_publish", "stub_publish", GENERATORS, True),
    "route:list": ("route_list", "route_list", APP, True),
    "run": ("run", "run_app", APP, False),
    "publish": ("publish", "publish", APP, False),
    "config:show": ("config_show", "config_show", APP, True),
    "completion": ("completion", "completion", APP, False),
    "new": ("new", "new", PROJECT, False),
    "upgrade": ("upgrade", "upgrade", PROJECT, False),
}
# A build of the CLI may ship without these; everything else still works.
OPTIONAL = frozenset({"new", "upgrade"})


def _cheap_coercion() -> Any:
    """A RuntimeParam class that skips pydantic for values of the right type already.

    Typer coerces every parameter (even ``--help``, whose unset value is None) through a pydantic
    TypeAdapter built on first use, and importing pydantic alone costs about as much as
    importing Typer. A name is already a ``str`` and a flag already a ``bool``; anything else goes
    to Typer's own coercion. None when Typer's internals differ: then nothing is changed.
    """
    try:
        from typer._coercion import RuntimeParam, build_runtime_param, resolve_type_descriptor
    except ImportError:
        return None

    class AlreadyTyped(RuntimeParam):
        def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
            if value is None or type(value) is self.annotation:
                return value
            descriptor = resolve_type_descriptor(self.annotation, self.parameter_info)
            return build_runtime_param(descriptor).coerce(value, param=param, ctx=ctx)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:  # pragma: no cover
            raise AssertionError("coerce() never calls this")

    return AlreadyTyped


_AlreadyTyped = _cheap_coercion()


def _skip_pydantic(params: list[Any]) -> list[Any]:
    if _AlreadyTyped is None:
        return params
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if (
            descriptor is not None
            and getattr(param, "_runtime_param", False) is None
            and descriptor.annotation in (str, bool)
            and descriptor.parameter_info.parser is None
            and param.nargs == 1
            and not param.multiple
        ):
            try:
                param._runtime_param = _AlreadyTyped(
                    parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
                )
            except (TypeError, AttributeError):  # another Typer: keep its own coercion
                return params
    return params


class FastCommand(TyperCommand):
    """A command whose ``str``/``bool`` parameters skip pydantic (see ``_cheap_coercion``)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _skip_pydantic(super().get_params(ctx))


class FastGroup(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _skip_pydantic(super().get_params(ctx))


def _show_version(value: bool) -> None:
    if value:
        from routemq_runtime._version import __version__  # the runtime only for --version

        typer.echo(f"{PROG} {__version__}")
        raise typer.Exit()


def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_show_version,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Create, scaffold and run [bold]RouteMQ[/bold] apps: MQTT routing with worker processes."""


def build_app(only: Iterable[str] | None = None) -> typer.Typer:
    """The Typer app with every command, or with just ``only`` (what one invocation needs)."""
    cli = typer.Typer(
        name=PROG,
        cls=FastGroup,
        help=HELP,
        add_completion=False,  # `routemq completion` prints scripts that handle `make:*` in bash
        no_args_is_help=True,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    cli.callback()(root)
    for name in COMMANDS if only is None else only:
        module_name, function, panel, fast = COMMANDS[name]
        module_path = f"routemq_cli.commands.{module_name}"
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as error:
            if name in OPTIONAL and error.name == module_path:
                continue
            raise
        options: dict[str, Any] = {"rich_help_panel": panel}
        if fast:
            options["cls"] = FastCommand
        cli.command(name, **options)(getattr(module, function))
    return cli


def __getattr__(name: str) -> Any:
    # ``app``: the complete CLI, built on first use (tests, `python -c`); run() builds only
    # the command being invoked.
    if name == "app":
        value = globals()["app"] = build_app()
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    """Console-script entry point."""
    only = None
    if os.environ.get(COMPLETE_VAR):
        from routemq_cli.commands.completion import enable_completion  # completion only

        enable_completion()
    elif len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        only = [sys.argv[1]]
    build_app(only)(prog_name=PROG)
