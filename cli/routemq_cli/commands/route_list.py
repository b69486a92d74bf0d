"""``route:list``: every route of the app, as a table or as JSON.

Like Laravel's ``route:list``, the table fits the terminal: when it is too wide, the least
needed columns are left out (and named below the table), then handler names are shortened.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from routemq_cli.commands.app_routes import load_app
from routemq_cli.commands.output import table

if TYPE_CHECKING:
    from routemq_runtime.routing import Route

#: (title, key), in the order shown.
COLUMNS = (
    ("PATTERN", "pattern"),
    ("SUBSCRIPTION", "subscription"),
    ("WORKERS", "worker_count"),
    ("QOS", "qos"),
    ("HANDLER", "handler"),
    ("MIDDLEWARE", "middleware"),
    ("SOURCE", "source"),
)
#: What gives way, in turn, when the table is wider than the terminal: a column left out, or
#: (``SHORT_HANDLER``) the handler's module path.
SHRINK_ORDER = ("MIDDLEWARE", "SOURCE", "SHORT_HANDLER", "SUBSCRIPTION", "QOS", "WORKERS")
GAP = 2


def route_list(
    path: Annotated[
        str | None,
        typer.Option(
            "--path", metavar="TEXT", help="Only routes whose pattern or filter contains TEXT."
        ),
    ] = None,
    handler: Annotated[
        str | None,
        typer.Option("--handler", metavar="TEXT", help="Only routes whose handler contains TEXT."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the routes as JSON.")] = False,
) -> None:
    """List every route: pattern, MQTT filter, shared group, workers, QoS, handler, middleware
    and where it is defined.

    Example: routemq route:list --path sensors --handler SensorController
    """
    app_dir, router, config = load_app()
    group = config.mqtt_group_name
    routes = [describe(route, group, app_dir) for route in router.routes]
    routes = [r for r in routes if selected(r, path, handler)]
    if as_json:
        import json  # only the --json form needs it

        typer.echo(json.dumps(routes, indent=2))
        return
    if not routes:
        if path or handler:
            typer.echo("No route matches the filter.")
        else:
            typer.echo("No routes yet: add one with `routemq make:router NAME --controller NAME`.")
        return
    text, hidden = format_table(routes, terminal_width())
    typer.echo(text)
    count = len(routes)
    typer.echo(
        f"\n{count} route{'s' if count != 1 else ''}; shared routes subscribe as "
        f"$share/{group}/<filter> (MQTT_GROUP_NAME={group})."
    )
    if hidden:
        typer.echo(f"Not shown to fit the terminal: {', '.join(hidden)} (see --json).")


def selected(route: dict[str, Any], path: str | None, handler: str | None) -> bool:
    if path and path not in route["pattern"] and path not in route["filter"]:
        return False
    return not handler or handler.lower() in route["handler"].lower()


def describe(route: Route, group: str, app_dir: Path | None = None) -> dict[str, Any]:
    return {
        "pattern": route.pattern,
        "filter": route.filter,
        "shared": route.shared,
        "group": group if route.shared else None,
        "subscription": route.subscription(group),
        "worker_count": route.worker_count,
        "qos": route.qos,
        "handler": route.handler_name,
        "middleware": [middleware_name(entry) for entry in route.middleware],
        "source": _location(route.defined_at, app_dir),
        "handler_source": _location(_code_of(route.handler), app_dir),
    }


def middleware_name(entry: Any) -> str:
    """``app.middleware.auth.AuthMiddleware`` for a class, a function or an instance."""
    target = entry if hasattr(entry, "__qualname__") else type(entry)
    return f"{target.__module__}.{target.__qualname__}"


def _code_of(handler: Any) -> tuple[str, int] | None:
    try:
        target = inspect.unwrap(handler)
        return inspect.getsourcefile(target) or "?", inspect.getsourcelines(target)[1]
    except (OSError, TypeError):
        return None


def _location(site: tuple[str, int] | None, app_dir: Path | None) -> str | None:
    """``app/routers/sensors.py:12``: relative to the app where the file is inside it."""
    if site is None:
        return None
    file = Path(site[0])
    if app_dir is not None and file.is_absolute():
        with contextlib.suppress(ValueError):  # a file outside the app keeps its full path
            file = file.resolve().relative_to(app_dir.resolve())
    return f"{file.as_posix()}:{site[1]}"


def terminal_width() -> int | None:
    """The width to fit: the terminal's, or ``$COLUMNS``; None when writing to a pipe or file."""
    if "COLUMNS" in os.environ or sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def format_table(routes: list[dict[str, Any]], width: int | None = None) -> tuple[str, list[str]]:
    """The table, and the titles of the columns left out to fit ``width``."""
    cells = {title: [_cell(r[key]) for r in routes] for title, key in COLUMNS}
    shown = [title for title, _ in COLUMNS]
    hidden: list[str] = []

    def needed() -> int:
        widths = [max(len(title), *map(len, cells[title])) for title in shown]
        return sum(widths) + GAP * (len(widths) - 1)

    for step in SHRINK_ORDER:
        if width is None or needed() <= width:
            break
        if step == "SHORT_HANDLER":
            cells["HANDLER"] = [_short_handler(name) for name in cells["HANDLER"]]
        else:
            shown.remove(step)
            hidden.append(step)
    rows = [[cells[title][i] for title in shown] for i in range(len(routes))]
    return table(shown, rows), hidden


def _short_handler(name: str) -> str:
    parts = name.split(".")
    return "…" + ".".join(parts[-2:]) if len(parts) > 2 else name


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(value) or "-"
    return "-" if value is None else str(value)
