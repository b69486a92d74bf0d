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

from routemq_cli.typer_speedups import FastCommand, FastGroup

PROG = "routemq"
COMPLETE_VAR = "_ROUTEMQ_COMPLETE"
HELP = "Create, scaffold and run [bold]RouteMQ[/bold] apps: MQTT routing with worker processes."

GENERATORS = "Generators"
APP = "App"
PROJECT = "Project"
FAILED = "Failed messages"

# name: (module in routemq_cli.commands, function, help panel, skips pydantic coercion)
COMMANDS: dict[str, tuple[str, str, str, bool]] = {
    "make:controller": ("make", "make_controller", GENERATORS, True),
    "make:router": ("make", "make_router", GENERATORS, True),
    "make:middleware": ("make", "make_middleware", GENERATORS, True),
    "make:test": ("make", "make_test", GENERATORS, True),
    "stub:publish": ("stub_publish", "stub_publish", GENERATORS, True),
    "route:list": ("route_list", "route_list", APP, True),
    "run": ("run", "run_app", APP, False),
    "publish": ("publish", "publish", APP, False),
    "subscribe": ("subscribe", "subscribe", APP, False),
    "config:show": ("config_show", "config_show", APP, True),
    "docs:asyncapi": ("docs_asyncapi", "docs_asyncapi", APP, True),
    "doctor": ("doctor", "doctor", APP, False),
    "completion": ("completion", "completion", APP, False),
    "failed:list": ("failed", "failed_list", FAILED, False),
    "failed:show": ("failed", "failed_show", FAILED, False),
    "failed:retry": ("failed", "failed_retry", FAILED, False),
    "failed:forget": ("failed", "failed_forget", FAILED, False),
    "failed:flush": ("failed", "failed_flush", FAILED, False),
    "new": ("new", "new", PROJECT, False),
    "upgrade": ("upgrade", "upgrade", PROJECT, False),
}
# A build of the CLI may ship without these; everything else still works.
OPTIONAL = frozenset({"new", "upgrade"})


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
