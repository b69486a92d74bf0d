"""``make:controller``, ``make:router`` and ``make:middleware``: thin shells over the generators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from routemq_cli.commands.app_dir import find_app_dir
from routemq_cli.commands.output import action, fail
from routemq_cli.generators.base import Generated, Generator
from routemq_cli.generators.errors import GeneratorError

Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite files that exist.")]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Print what would be created; write nothing.")
]
NoTest = Annotated[bool, typer.Option("--no-test", help="Do not create a test file.")]


def make_controller(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Sensor, sensor-reading or SensorController.")
    ],
    force: Force = False,
    dry_run: DryRun = False,
    no_test: NoTest = False,
) -> None:
    """Create a controller in app/controllers/ and its test in tests/."""
    # Each make:* command loads only its own generator.
    from routemq_cli.generators.controller import ControllerGenerator

    _generate(
        lambda app_dir: ControllerGenerator(app_dir, name, with_test=not no_test), force, dry_run
    )


def make_router(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The router module, e.g. sensors.")],
    controller: Annotated[
        str | None,
        typer.Option(
            "--controller", "-c", metavar="NAME", help="Route to this controller's handler."
        ),
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(
            "--prefix",
            "-p",
            metavar="TOPIC",
            help="Topic prefix of the router's group (default: the name).",
        ),
    ] = None,
    force: Force = False,
    dry_run: DryRun = False,
    no_test: NoTest = False,
) -> None:
    """Create a router in app/routers/ (discovered at start-up, nothing to register), and with
    --controller a test of its route in tests/."""
    # Each make:* command loads only its own generator.
    from routemq_cli.generators.router import RouterGenerator

    _generate(
        lambda app_dir: RouterGenerator(
            app_dir, name, controller=controller, prefix=prefix, with_test=not no_test
        ),
        force,
        dry_run,
    )


def make_test(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="A controller (Sensor), a route's name= or a route pattern (sensors/{id}/data).",
        ),
    ],
    force: Force = False,
    dry_run: DryRun = False,
) -> None:
    """Create a TestClient test in tests/ for the routes NAME names, one test per route.

    Example: routemq make:test Sensor
    """
    # Each make:* command loads only its own generator.
    from routemq_cli.generators.test import RouteTestGenerator

    _generate(lambda app_dir: RouteTestGenerator(app_dir, name), force, dry_run)


def make_middleware(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Auth, rate-limit or AuthMiddleware.")
    ],
    force: Force = False,
    dry_run: DryRun = False,
    no_test: NoTest = False,
) -> None:
    """Create a middleware in app/middleware/ and its test in tests/."""
    # Each make:* command loads only its own generator.
    from routemq_cli.generators.middleware import MiddlewareGenerator

    _generate(
        lambda app_dir: MiddlewareGenerator(app_dir, name, with_test=not no_test), force, dry_run
    )


def _generate(build: Callable[..., Generator], force: bool, dry_run: bool) -> None:
    try:
        generator = build(find_app_dir())
        generated = generator.generate(force=force, dry_run=dry_run)
    except GeneratorError as error:
        fail(error)
    report(generated)


def report(generated: Generated) -> None:
    """One line per file, then a summary."""
    for file in generated.files:
        action(file.action, file.path)
    count = len(generated.files)
    files = f"{count} file{'s' if count != 1 else ''}"
    if generated.dry_run:
        typer.echo(
            f"Dry run: {generated.what} {generated.subject} would write {files}; nothing written."
        )
    else:
        typer.echo(f"Created {generated.what} {generated.subject} ({files}).")
