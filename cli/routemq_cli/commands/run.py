"""``run``: run the app in the current directory, the same code path as ``python main.py``."""

from __future__ import annotations

from typing import Annotated

import typer

from routemq_cli.commands.app_dir import find_app_dir
from routemq_cli.commands.output import fail
from routemq_cli.generators.errors import GeneratorError


def run_app(
    workers: Annotated[
        bool,
        typer.Option("--workers", help="Run shared routes in supervised worker processes."),
    ] = False,
    num_workers: Annotated[
        int | None,
        typer.Option(
            "--num-workers",
            "-n",
            min=1,
            metavar="N",
            help="Processes per shared route (implies --workers; overrides WORKER_COUNT).",
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group", metavar="NAME", help="Shared-subscription group (default: MQTT_GROUP_NAME)."
        ),
    ] = None,
) -> None:
    """Run the app in this directory (same as `python main.py`)."""
    try:
        app_dir = find_app_dir()
    except GeneratorError as error:
        fail(error)
    argv: list[str] = []
    if workers:
        argv.append("--workers")
    if num_workers is not None:
        argv += ["--num-workers", str(num_workers)]
    if group is not None:
        argv += ["--group", group]
    from routemq_runtime.app import main  # the runtime only when the app runs

    raise typer.Exit(main(argv, app_dir=app_dir) or 0)
