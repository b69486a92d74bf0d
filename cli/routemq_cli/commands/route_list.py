"""``route:list``: every route of the app, as a table or as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from routemq_cli.commands.app_dir import find_app_dir
from routemq_cli.commands.output import fail, table
from routemq_cli.generators.errors import GeneratorError

if TYPE_CHECKING:
    from routemq_runtime.routing import Route

COLUMNS = (
    ("PATTERN", "pattern"),
    ("SUBSCRIPTION", "subscription"),
    ("WORKERS", "worker_count"),
    ("QOS", "qos"),
    ("HANDLER", "handler"),
    ("MIDDLEWARE", "middleware"),
)


def route_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the routes as JSON.")] = False,
) -> None:
    """List every route: pattern, MQTT filter, shared group, workers, QoS, handler, middleware."""
    try:
        app_dir = find_app_dir()
    except GeneratorError as error:
        fail(error)
    # The runtime loads routers without paho-mqtt, so listing stays quick.
    from routemq_runtime.app_loader import load_app_router
    from routemq_runtime.config import Config, ConfigError

    try:
        router = load_app_router(app_dir)
    except Exception as error:
        fail(f"could not load the app's routes: {type(error).__name__}: {error}")
    try:
        group = Config.from_env(env_file=app_dir / ".env").mqtt_group_name
    except ConfigError as error:
        fail(f"invalid configuration: {error}", hint="fix the variables in .env or the environment")
    routes = [describe(route, group) for route in router.routes]
    if as_json:
        import json

        typer.echo(json.dumps(routes, indent=2))
        return
    if not routes:
        typer.echo("No routes yet: add one with `routemq make:router NAME --controller NAME`.")
        return
    typer.echo(format_table(routes))
    count = len(routes)
    typer.echo(
        f"\n{count} route{'s' if count != 1 else ''}; shared routes subscribe as "
        f"$share/{group}/<filter> (MQTT_GROUP_NAME={group})."
    )


def describe(route: Route, group: str) -> dict[str, Any]:
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
    }


def middleware_name(entry: Any) -> str:
    """``app.middleware.auth.AuthMiddleware`` for a class, a function or an instance."""
    target = entry if hasattr(entry, "__qualname__") else type(entry)
    return f"{target.__module__}.{target.__qualname__}"


def format_table(routes: list[dict[str, Any]]) -> str:
    return table(
        [title for title, _ in COLUMNS], [[_cell(r[key]) for _, key in COLUMNS] for r in routes]
    )


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(value) or "-"
    return str(value)
