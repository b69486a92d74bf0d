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
            help=(
                "Worker processes in total, shared out over the shared routes by their "
                "worker_count, at least one each (implies --workers; overrides WORKER_COUNT)."
            ),
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group", metavar="NAME", help="Shared-subscription group (default: MQTT_GROUP_NAME)."
        ),
    ] = None,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload",
            help="Restart when the app's Python files or .env change (development only, "
            "not for production).",
        ),
    ] = False,
) -> None:
    """Run the app in this directory (same as `python main.py`).

    Example: routemq run --workers --reload
    """
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
    if reload:
        # watchfiles only for --reload.
        from routemq_cli.reloader import Reloader

        raise typer.Exit(Reloader(app_dir, argv, _say).run())
    from routemq_runtime.app import main  # the runtime only when the app runs

    raise typer.Exit(main(argv, app_dir=app_dir) or 0)


def _say(text: str) -> None:
    typer.secho(f"[reload] {text}", fg=typer.colors.CYAN, err=True)
